"""Unicode and whitespace cleaning of incoming text, and the key used to spot reposts."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Zero-width and bidi-control characters that change nothing visible but defeat matching.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
_REPOST_PREFIX = re.compile(r"^(?:rt|repost|via)\b[\s:]*(?:@\w+:?\s*)?", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def clean_text(text: str) -> str:
    """NFC-normalise, drop invisible/control characters, collapse whitespace."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def repost_fingerprint(text: str) -> str:
    """Hash of the text with case, links, handles, 'RT' prefixes and punctuation removed.

    Two posts with the same fingerprint say the same thing: the later one is a repost. It
    is a plain hash of unmasked text: never store it as is (``RepostGuard`` keys it).
    """
    text = _URL.sub(" ", text.casefold())
    text = _REPOST_PREFIX.sub("", text.strip())
    text = _HANDLE.sub(" ", text)
    text = _NON_WORD.sub(" ", text).strip()
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
