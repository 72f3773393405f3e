"""Personal-data masking applied before anything is stored or shown, and the author hash.

Detection reads an NFKC-folded view of the text (``fold.Folded``) and replaces the spans
it finds in the original, in this order: e-mail addresses, IBANs (mod-97), Chinese
resident IDs (check character) and US social security numbers, payment cards (13-19
digits, Luhn), phone numbers (``phones``), user handles. Each rule blanks what it took in
the view so later rules do not see it; dates are blanked unmasked first so they never join
a phone number. Digit runs none of these rules claim (prices, dates, order and tracking
numbers, timestamps) are kept. Every pattern is linear in the text's length.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from pipeline.text.checksums import card_ok, cn_id_ok, iban_ok
from pipeline.text.context import kind_before
from pipeline.text.fold import Folded
from pipeline.text.phones import CANDIDATE, phone_spans

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
ID_MASK = "[id]"
CARD_MASK = "[card]"
IBAN_MASK = "[iban]"
HANDLE_MASK = "@user"

_LOCAL = r"[A-Za-z0-9\u00c0-\u024f._%+-]"
_AT = r"(?:@| ?[\[(]at[\])] ?)"
_DOT = r"(?:\.| ?[\[(]dot[\])] ?)"
_EMAIL = re.compile(
    rf"(?<!{_LOCAL})[A-Za-z0-9\u00c0-\u024f]{_LOCAL}{{0,63}}{_AT}(?:[A-Za-z0-9-]{{1,63}}{_DOT})+"
    r"[A-Za-z]{2,24}(?![A-Za-z0-9-])",
    re.IGNORECASE,
)
_MAY_HAVE_EMAIL = re.compile(r"@|[\[(]at[\])]", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![0-9A-Za-z_.@])@\w{1,30}")
# Every numeric rule needs 7+ digits close together (IBAN letters included): most texts
# with a number or two skip them all.
_SEVEN_DIGITS = re.compile(r"\d(?:\D{0,4}\d){6}")
_NOT_TOKEN = r"(?<![0-9A-Za-z])"
_END_TOKEN = r"(?![0-9A-Za-z])"
_IBAN = re.compile(
    rf"{_NOT_TOKEN}[A-Za-z]{{2}}[0-9]{{2}}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)" + _END_TOKEN
)
_CN_ID = re.compile(
    rf"{_NOT_TOKEN}(?:[0-9]{{6}}(?:[ -]?[0-9]{{4}}){{2}}[ -]?[0-9]{{3}}[0-9Xx]|[0-9]{{15}})"
    + _END_TOKEN
)
_SSN = re.compile(
    r"(?<![0-9A-Za-z-])(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![0-9A-Za-z-])"
)
_CARD = re.compile(
    r"(?<![0-9A-Za-z+])(?:[0-9]{13,19}|[0-9]{4}([ -])[0-9]{3,6}(?:\1[0-9]{3,6}){1,3})" + _END_TOKEN
)
_D, _M = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(
    r"(?<!\d)(?<!\d[./\-])"
    rf"(?:(?:19|20)\d\d([./\-]){_M}\1{_D}|{_D}([./\-]){_M}\2(?:19|20)?\d\d"
    rf"|{_M}([./\-]){_D}\3(?:19|20)?\d\d)"
    r"(?![./\-]?\d)"
)
_SEPARATORS = re.compile(r"[ -]")
_BLANK = "\x00"  # never in cleaned text, matched by no rule

Span = tuple[int, int]
Judge = Callable[[str, re.Match[str]], list[Span]]


def _whole(_view: str, match: re.Match[str]) -> list[Span]:
    return [match.span()]


def _iban(_view: str, match: re.Match[str]) -> list[Span]:
    parts = match.group().split(" ")
    for k in range(len(parts), 0, -1):  # a following 4-letter word may have joined it
        if iban_ok("".join(parts[:k])):
            return [(match.start(), match.start() + len(" ".join(parts[:k])))]
    return []


def _cn_id(view: str, match: re.Match[str]) -> list[Span]:
    compact = _SEPARATORS.sub("", match.group())
    if not cn_id_ok(compact):
        return []
    if len(compact) == 15 and kind_before(view, match.start()) != "id":
        return []  # the old form has no check digit: only after an ID keyword
    return [match.span()]


def _not_a_reference(view: str, match: re.Match[str]) -> list[Span]:
    return [] if kind_before(view, match.start()) == "ref" else [match.span()]


def _card(view: str, match: re.Match[str]) -> list[Span]:
    groups = _SEPARATORS.split(match.group())
    for k in range(len(groups), 0, -1):  # a trailing group may not belong to the card
        if card_ok("".join(groups[:k])):
            if kind_before(view, match.start()) == "ref":
                return []
            return [(match.start(), match.start() + _span_len(groups, k))]
    return []


def _span_len(groups: list[str], k: int) -> int:
    """Characters of the first ``k`` groups and the single separators between them."""
    return sum(len(g) for g in groups[:k]) + k - 1


def _apply(
    pattern: re.Pattern[str],
    judge: Judge,
    mask: str | None,
    view: str,
    found: list[tuple[int, int, str]],
) -> str:
    """Blank in ``view`` every span ``judge`` accepts from ``pattern``'s matches; record them
    in ``found`` with ``mask`` (None: blank only, the original is kept)."""

    def replace(match: re.Match[str]) -> str:
        spans = judge(view, match)
        if not spans:
            return match.group()
        out, pos = [], match.start()
        for start, end in spans:
            out += [view[pos:start], _BLANK * (end - start)]
            pos = end
            if mask is not None:
                found.append((start, end, mask))
        out.append(view[pos : match.end()])
        return "".join(out)

    return pattern.sub(replace, view)


def mask_personal_data(text: str) -> str:
    """Replace e-mail addresses, IBANs, ID numbers, payment cards, phone numbers and user
    handles by placeholders (``[email]``, ``[iban]``, ``[id]``, ``[card]``, ``[phone]``,
    ``@user``); the rest of the text is kept as it is."""
    folded = Folded(text)
    view = folded.view
    found: list[tuple[int, int, str]] = []
    if _MAY_HAVE_EMAIL.search(view):
        view = _apply(_EMAIL, _whole, EMAIL_MASK, view, found)
    if _SEVEN_DIGITS.search(view):
        view = _apply(_IBAN, _iban, IBAN_MASK, view, found)
        view = _apply(_CN_ID, _cn_id, ID_MASK, view, found)
        view = _apply(_SSN, _not_a_reference, ID_MASK, view, found)
        view = _apply(_CARD, _card, CARD_MASK, view, found)
        view = _apply(_DATE, _whole, None, view, found)
        view = _apply(CANDIDATE, phone_spans, PHONE_MASK, view, found)
    if "@" in view:
        _apply(_HANDLE, _whole, HANDLE_MASK, view, found)
    return folded.replace(found) if found else text


def author_hash(author: str | None, salt: bytes) -> str | None:
    """A keyed hash (HMAC-SHA-256 with ``OPINION_AUTHOR_HASH_SALT``) of the author: counts
    distinct authors without storing them."""
    if not author:
        return None
    return hmac.new(salt, author.strip().casefold().encode(), hashlib.sha256).hexdigest()[:20]
