"""Text normalisation applied identically before training and scoring."""

from __future__ import annotations

import html
import re

_URL = re.compile(r"https?://\S+|www\.\S+")
_USER = re.compile(r"(?<![\w@])@\w{1,30}")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Unescape HTML entities, replace URLs by ``http`` and handles by ``@user``.

    This matches the TweetEval convention so that a model trained on raw tweets is not
    distracted by handles and links.
    """
    text = html.unescape(text)
    text = _URL.sub("http", text)
    text = _USER.sub("@user", text)
    return _SPACE.sub(" ", text).strip()
