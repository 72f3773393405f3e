"""Word occlusion: how much each word moved a model's log-odds of positive vs negative."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

_WORD = re.compile(r"\S+")


def word_occlusion(
    predict_proba: Callable[[Sequence[str]], np.ndarray], text: str, max_words: int = 64
) -> list[tuple[str, float]]:
    """Per-word attributions by occlusion on the log-odds ``log P(pos) - log P(neg)``.

    Each word's score is how much the log-odds drop when it is removed: > 0 means the word
    pushed the text towards positive, < 0 towards negative. Log-odds (not probabilities)
    keep redundant cues visible when the prediction is saturated. One batched call of
    ``predict_proba`` on the text and its ``len(words)`` variants.
    """
    words = _WORD.findall(text)[:max_words]
    if not words:
        return []
    variants = [" ".join(words)] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
    probs = np.clip(predict_proba(variants), 1e-9, 1.0)
    log_odds = np.log(probs[:, 2]) - np.log(probs[:, 0])
    return [(w, float(log_odds[0] - log_odds[i + 1])) for i, w in enumerate(words)]
