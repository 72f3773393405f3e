"""Map a checkpoint's output classes onto (negative, neutral, positive).

Works from the card's label list or the checkpoint's ``id2label`` (names such as
``negative``/``NEG``/``LABEL_0``, or 1-5 stars). Binary (negative/positive) models get a
neutral class from low confidence: see ``binary_to_three``.
"""

from __future__ import annotations

import numpy as np

from pipeline.schemas import SENTIMENT_LABELS

NEUTRAL_MARGIN = 0.3
_SYNONYMS = {
    "negative": 0,
    "neg": 0,
    "bad": 0,
    "neutral": 1,
    "neu": 1,
    "mixed": 1,
    "positive": 2,
    "pos": 2,
    "good": 2,
}


def label_groups(names: list[str]) -> list[list[int]]:
    """For each of negative/neutral/positive, the model outputs that sum into it.

    An empty neutral group means a binary model.
    """
    n = len(names)
    groups: list[list[int]] = [[], [], []]
    lowered = [str(x).strip().lower() for x in names]
    if all(x in _SYNONYMS for x in lowered):
        for i, x in enumerate(lowered):
            groups[_SYNONYMS[x]].append(i)
    elif n == 5:  # 1..5 stars
        groups = [[0, 1], [2], [3, 4]]
    elif n == 3:
        groups = [[0], [1], [2]]
    elif n == 2:
        groups = [[0], [], [1]]
    else:
        raise ValueError(f"cannot map {n} model labels {names} onto {SENTIMENT_LABELS}")
    if not groups[0] or not groups[2]:
        raise ValueError(f"model labels {names} lack a negative or a positive class")
    return groups


def binary_to_three(p_pos: np.ndarray, margin: float = NEUTRAL_MARGIN) -> np.ndarray:
    """(negative, neutral, positive) from a binary P(positive).

    ``n = max(0, 1 - |2p - 1| / margin)`` is the neutral mass; the rest is split as the
    binary model says: ``[(1-p)(1-n), n, p(1-n)]``. With the default margin 0.3, texts with
    P(positive) within about 0.41-0.59 come out neutral; the sign of pos-neg is unchanged.
    """
    p = np.clip(np.asarray(p_pos, dtype=np.float64), 0.0, 1.0)
    n = np.clip(1.0 - np.abs(2 * p - 1) / margin, 0.0, 1.0)
    return np.stack([(1 - p) * (1 - n), n, p * (1 - n)], axis=-1)


def to_three(probs: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Model-output probabilities (rows) -> (negative, neutral, positive) rows."""
    if not groups[1]:
        neg = probs[:, groups[0]].sum(1)
        pos = probs[:, groups[2]].sum(1)
        return binary_to_three(pos / np.maximum(neg + pos, 1e-12))
    return np.stack([probs[:, g].sum(1) for g in groups], axis=-1)
