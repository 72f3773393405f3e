"""Personal-data masking applied before anything is stored or shown."""

from __future__ import annotations

import hashlib
import hmac
import re

_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", re.UNICODE)
# 7+ digits, optionally grouped by spaces, dots, dashes or parentheses, optional +country.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s().-]{0,2}\d){6,14}(?!\w)")
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
HANDLE_MASK = "@user"


def mask_personal_data(text: str) -> str:
    """Replace e-mail addresses, phone numbers and user handles by placeholders."""
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _PHONE.sub(PHONE_MASK, text)
    return _HANDLE.sub(HANDLE_MASK, text)


def author_hash(author: str | None, salt: bytes) -> str | None:
    """A salted, keyed hash of the author: counts distinct authors without storing them."""
    if not author:
        return None
    return hmac.new(salt, author.strip().casefold().encode(), hashlib.sha256).hexdigest()[:20]
