"""Which digit runs are phone numbers.

A candidate is a run of digits joined by phone separators (space, ``.``, ``-``, ``/``,
parentheses), optionally after ``+``, in any script context (``手机13812345678`` too). It
is a phone number when its shape says so (``+`` and 7-15 digits, an 11-digit Chinese
mobile number ``1[3-9]…``, ``(010) 1234-5678``, ``555-123-4567``, a trunk ``0`` area code
followed by a separator) or when a phone word (phone, tel, call, 电话, 手机, 联系 ...) is
the last keyword before it in the sentence. Other runs (dates, prices, order and tracking
numbers, timestamps) are kept.
"""

from __future__ import annotations

import re

from pipeline.text.context import kind_before

_SEP = r"[ .\-/()\u2010-\u2015]"
CANDIDATE = re.compile(rf"(?<![0-9A-Za-z+])(?:\(?\+ ?)?\(?\d(?:{_SEP}{{0,3}}\d)*")
_NANP = re.compile(r"(?:\+?1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}")
_PAREN_AREA = re.compile(r"\(\+?\d{1,5}\)")
_TRUNK = re.compile(r"\(?0\d{1,4}\)?[ .\-\u2010-\u2015]|0\d{2,4}/")
# A Chinese mobile number, optionally after +86: one run of 11 digits or grouped 3-4-4.
_MOBILE_CN = re.compile(r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:\d{8}|[ -]\d{4}[ -]\d{4})")
_GROUP = re.compile(r"\d+")
_NON_DIGIT = re.compile(r"\D")
_ALNUM = re.compile(r"[0-9A-Za-z]")


def digits_of(text: str) -> str:
    """The digits of ``text`` as ASCII (Arabic-Indic, Devanagari ... digits converted)."""
    digits = _NON_DIGIT.sub("", text)
    return digits if digits.isascii() else "".join(chr(48 + int(c)) for c in digits)


def _in_code(view: str, start: int, end: int) -> bool:
    """The run is part of an alphanumeric code: ``ORD-2026…``, ``1Z 999 AA1 0123…``,
    ``…1234-AB``, ``12345abc``."""
    if end < len(view) and (
        _ALNUM.match(view, end)
        or (view[end] == "-" and end + 1 < len(view) and _ALNUM.match(view, end + 1))
    ):
        return True
    if start >= 2 and view[start - 1] in " -" and _ALNUM.match(view, start - 2):
        if view[start - 1] == "-":
            return True
        token = view[max(0, start - 21) : start - 1].rsplit(" ", 1)[-1]
        return token.isupper() and any(c.isdigit() for c in token)
    return False


def _shaped_like_phone(candidate: str, digits: str) -> bool:
    n = len(digits)
    if candidate.lstrip("(").startswith("+"):
        return 7 <= n <= 15
    if _MOBILE_CN.fullmatch(candidate):
        return True
    if _NANP.fullmatch(candidate) or (_PAREN_AREA.search(candidate) and 7 <= n <= 15):
        return True
    return bool(_TRUNK.match(candidate)) and 9 <= n <= 12


def _mobile_groups(candidate: str, offset: int) -> list[tuple[int, int]]:
    """Consecutive digit groups inside a longer run that spell a Chinese mobile number
    (``138 1234 5678`` in ``138 1234 5678 2``)."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(candidate)]
    hits: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        size, j = 0, i
        while j < len(groups) and size < 11:
            size += groups[j][1] - groups[j][0]
            j += 1
        text = candidate[groups[i][0] : groups[j - 1][1]]
        if size == 11 and _MOBILE_CN.fullmatch(text):
            hits.append((offset + groups[i][0], offset + groups[j - 1][1]))
            i = j
        else:
            i += 1
    return hits


def phone_spans(view: str, match: re.Match[str]) -> list[tuple[int, int]]:
    """The spans of a ``CANDIDATE`` match of ``view`` that are phone numbers."""
    start, end = match.span()
    candidate = match.group()
    if _in_code(view, start, end):
        return []
    digits = digits_of(candidate)
    if len(digits) < 7:
        return []
    if _shaped_like_phone(candidate, digits):
        return [(start, end)]
    mobiles = _mobile_groups(candidate, start) if len(digits) > 11 else []
    if not mobiles and len(digits) <= 15 and kind_before(view, start) == "phone":
        return [(start, end)]
    return mobiles
