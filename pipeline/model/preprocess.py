"""Text normalisation applied identically before training and scoring."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

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


def route_texts(route: str, texts: Sequence[str]) -> list[str]:
    """Route-specific script normalisation before model and lexicon.

    ``zh``: Traditional -> Simplified (``pipeline.text.hanzi``), since the Chinese models and
    lexicon were built on Simplified text; Simplified posts pass unchanged (~1 µs). Other
    routes: unchanged.
    """
    if route == "zh":
        from pipeline.text.hanzi import to_simplified

        return [to_simplified(t) for t in texts]
    return list(texts)
