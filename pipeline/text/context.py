"""What the words just before a number say it is: a phone number, a card, an ID, or a
reference (order, tracking, invoice...) that is not personal data."""

from __future__ import annotations

import re
from typing import Literal, get_args

Kind = Literal["phone", "card", "id", "ref"]
_KINDS: dict[str, Kind] = {kind: kind for kind in get_args(Kind)}

# Words in scripts with spaces must stand alone (``tel`` but not ``hotel``/``television``;
# ``call`` but not ``calls``: "reached 1000000", "contacted 1500000 users" stay), a plural
# ``s`` may follow the ref words. Chinese, Japanese and Korean words match anywhere.
_WORDS: dict[Kind, tuple[str, str]] = {
    "phone": (
        "phone|telephone|cellphone|ph|tel|tél|tlf|teléfono|telefono|telefone|telefon|téléphone|"
        "mobile|mobil|móvil|mob|cell|cel|celular|handy|portable|call|calling|called|ring|dial|"
        "dialing|dialled|phoned|text|texting|txt|sms|"
        "whatsapp|wa|viber|telegram|fax|hotline|helpline|contact|my number|"
        "our number|тел|телефон|звоните|звони|моб|هاتف|جوال|اتصل",
        "电话|手机|致电|联系|热线|拨打|来电|座机|传真|短信|微信|電話|手機|聯繫|聯絡|撥打|"
        "來電|熱線|傳真|携帯|連絡|전화|휴대폰|연락",
    ),
    "card": (
        "card|credit|debit|visa|mastercard|amex|unionpay|iban|account|acct|konto|cuenta|"
        "compte|bank",
        "卡号|卡號|银行卡|銀行卡|信用卡|储蓄卡|账号|帳號|账户|帳戶|银行|銀行",
    ),
    "id": (
        "id card|id no|id number|identity|passport|ssn|social security",
        "身份证|身份證|证件|證件|护照|護照",
    ),
    "ref": (
        "order|tracking|track|awb|waybill|shipment|parcel|package|invoice|receipt|ref|"
        "reference|isbn|issn|sku|serial|model|part|ticket|booking|confirmation|case|"
        "version|build|batch|lot|flight|pnr|transaction|txn",
        "订单|訂單|单号|單號|运单|運單|快递|快遞|物流|发票|發票|编号|編號|流水|型号|型號|"
        "批号|批號|工单|工單|票号|航班|版本|注文",
    ),
}
_KEYWORD = re.compile(
    "|".join(
        rf"(?P<{kind}>(?<![^\W\d_])(?:{spaced}){'s?' if kind == 'ref' else ''}(?![^\W\d_])|{cjk})"
        for kind, (spaced, cjk) in _WORDS.items()
    ),
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_SENTENCE_END = re.compile(r".*[。！？!?\n;；]", re.DOTALL)
WINDOW = 40  # characters before the number that are read


def kind_before(view: str, start: int) -> Kind | None:
    """The kind named by the last keyword in the same sentence within ``WINDOW``
    characters before ``start``, with no other number in between; else None."""
    window = view[max(0, start - WINDOW) : start]
    end = _SENTENCE_END.match(window)
    if end:
        window = window[end.end() :]
    last = None
    for match in _KEYWORD.finditer(window):
        last = match
    if last is None or _DIGIT.search(window, last.end()):
        return None  # another number stands between the keyword and this one
    return _KINDS.get(last.lastgroup or "")
