"""The null model: the same interface as a real one, fixed probabilities at no cost.

It measures the pipeline's own ceiling (``opinion bench --model null``): everything a worker
does per post except the transformer (ingest, repost guard, lexicon fusion, the multilingual
encoder's pooled opinion, publishing, Redis) still runs. A null model is a directory holding
only a ``model_card.json`` whose ``base_model`` is ``"null"`` (``write_null_model``); the
loader recognises it by its card (``is_null_card``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeGuard

import numpy as np

from pipeline.model.card import ModelCard

NULL_BASE_MODEL = "null"
NULL_VERSION = "null"
# (negative, neutral, positive) for every text: undecided, so the lexicon and the pooled
# multilingual opinion decide the label and the labels stay as varied as real ones.
NULL_ROW = (0.3, 0.4, 0.3)


def is_null_card(card: ModelCard | None) -> TypeGuard[ModelCard]:
    """Whether ``card`` describes the null model."""
    return card is not None and card.base_model == NULL_BASE_MODEL


def null_card(like: ModelCard | None = None) -> ModelCard:
    """A null model's card; ``like``'s lexicon and pooling weights are kept, so the null model
    costs the worker exactly what ``like`` costs it outside the model."""
    return ModelCard(
        version=NULL_VERSION,
        base_model=NULL_BASE_MODEL,
        languages=["en"],
        reproduce="pipeline.model.null.write_null_model",
        fusion_weight=like.fusion_weight if like else None,
        multi_pool_weight=like.multi_pool_weight if like else None,
    )


def write_null_model(model_dir: Path, like: ModelCard | None = None) -> Path:
    """Make ``model_dir`` a null model directory (see ``null_card``); returns it."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    null_card(like).save(model_dir)
    return model_dir


class NullClassifier:
    """Implements ``ProbModel``: ``NULL_ROW`` for every text, no attributions."""

    def __init__(self, card: ModelCard | None = None, row: Sequence[float] = NULL_ROW) -> None:
        self.card = card or null_card()
        self._row = np.asarray(row, dtype=np.float64).reshape(1, 3)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One copy of the fixed row per text, shape (len(texts), 3)."""
        return np.repeat(self._row, len(texts), axis=0)

    def occlusion(self, text: str, max_words: int = 64) -> list[tuple[str, float]]:
        """Every word with attribution 0 (a constant model depends on no word)."""
        return [(word, 0.0) for word in text.split()[:max_words]]
