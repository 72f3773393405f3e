"""Lexicon fusion: a linear opinion pool of model and lexicon probabilities.

``fused = (1 - w) * p_model + w * p_lexicon`` where ``p_lexicon`` is the lexicon compound
mapped to (negative, neutral, positive) by ``lexicon.compound_to_probs``. Texts without any
lexicon term keep the model's probabilities unchanged (the lexicon has no opinion on them).
``w`` is chosen per model on a held-out split of its own training corpus (never on the
evaluation sets) by ``choose_fusion_weight`` and stored in the model card;
``OPINION_FUSION_WEIGHT`` overrides it. The rule is "the largest weight whose held-out
macro-F1 is within ``tolerance`` (1 point) of the best": a held-out split of the training
corpus is in-domain and always favours the fine-tuned model, while the lexicon is
domain-independent, so a small in-domain cost buys robustness on unseen domains. The same
rule chooses the English route's pooling weight of the multilingual model
(``choose_pool_weight``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.model.lexicon import compound_to_probs
from pipeline.model.metrics import compute_metrics
from pipeline.schemas import SENTIMENT_LABELS

WEIGHT_GRID = tuple(round(x * 0.05, 2) for x in range(13))  # 0.0 .. 0.6


def fuse(p_model: np.ndarray, compounds: Sequence[float | None], weight: float) -> np.ndarray:
    """Fused (negative, neutral, positive) rows; a None or 0.0 compound leaves a row as is."""
    out = np.array(p_model, dtype=np.float64, copy=True)
    if weight <= 0:
        return out
    for i, c in enumerate(compounds):
        if c:
            out[i] = (1 - weight) * out[i] + weight * np.asarray(compound_to_probs(c))
    return out


def binary_predictions(probs: np.ndarray) -> list[int]:
    """0 negative / 1 positive, by comparing P(negative) and P(positive) (neutral ignored)."""
    return (probs[:, 2] > probs[:, 0]).astype(int).tolist()


def score_fused(
    probs: np.ndarray, gold: Sequence[int], *, binary: bool = False
) -> tuple[float, float]:
    """(accuracy, macro-F1) of ``probs`` against ``gold`` (binary gold: 0 neg, 1 pos)."""
    if binary:
        m = compute_metrics(list(gold), binary_predictions(probs), ["negative", "positive"])
    else:
        m = compute_metrics(list(gold), probs.argmax(1).tolist(), list(SENTIMENT_LABELS))
    return m.accuracy, m.macro_f1


def largest_within(table: dict[float, float], tolerance: float = 0.01) -> float:
    """The selection rule: the largest weight whose score is within ``tolerance`` of the best."""
    best = max(table.values())
    return max(w for w, score in table.items() if score >= best - tolerance)


def choose_fusion_weight(
    p_model: np.ndarray,
    compounds: Sequence[float | None],
    gold: Sequence[int],
    *,
    binary: bool = False,
    grid: Sequence[float] = WEIGHT_GRID,
    tolerance: float = 0.01,
) -> tuple[float, dict[str, float]]:
    """The largest grid weight within ``tolerance`` of the best held-out macro-F1, and the table."""
    scores = {
        w: round(score_fused(fuse(p_model, compounds, w), gold, binary=binary)[1], 4) for w in grid
    }
    return largest_within(scores, tolerance), {f"{w:.2f}": f1 for w, f1 in scores.items()}


def choose_pool_weight(
    p_base: np.ndarray,
    p_other: np.ndarray,
    gold: Sequence[int],
    *,
    grid: Sequence[float] = WEIGHT_GRID,
    tolerance: float = 0.01,
) -> tuple[float, dict[str, float]]:
    """Same rule for pooling a second model: ``(1 - w) * p_base + w * p_other``."""
    scores = {w: round(score_fused((1 - w) * p_base + w * p_other, gold)[1], 4) for w in grid}
    return largest_within(scores, tolerance), {f"{w:.2f}": f1 for w, f1 in scores.items()}
