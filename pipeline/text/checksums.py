"""Check digits of the identifiers personal-data masking recognises (ASCII digit strings)."""

from __future__ import annotations

import re

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"
_CN_ID_18 = re.compile(
    r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]"
)
_CN_ID_15 = re.compile(r"[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(digits: str) -> bool:
    """13-19 digits, an issuer prefix in use (2-6: Mastercard, Amex, Visa, Discover,
    UnionPay, JCB, Maestro...; 81: UnionPay) and a valid Luhn check digit."""
    return (
        13 <= len(digits) <= 19
        and (digits[0] in "23456" or digits.startswith("81"))
        and luhn_ok(digits)
    )


def iban_ok(iban: str) -> bool:
    """ISO 13616: country letters, check digits, 11-30 more characters, mod 97 == 1."""
    iban = iban.upper()
    if not _IBAN.fullmatch(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def cn_id_ok(digits: str) -> bool:
    """A Chinese resident ID: 18 characters (date of birth, ISO 7064 check character, maybe
    ``X``) or the old 15-digit form (date of birth, no check digit)."""
    digits = digits.upper()
    if len(digits) == 15:
        return bool(_CN_ID_15.fullmatch(digits))
    if not _CN_ID_18.fullmatch(digits):
        return False
    total = sum(int(d) * w for d, w in zip(digits, _CN_ID_WEIGHTS, strict=False))
    return _CN_ID_CHECK[total % 11] == digits[17]
