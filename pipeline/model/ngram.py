"""A binary character n-gram logistic-regression classifier (the bundled Chinese model).

Artefact: ``ngram_model.json`` = {"ngram_range": [lo, hi], "bias": b, "weights": {gram: w}}.
Features are the binary presence of the known n-grams, L2-normalised; P(positive) =
sigmoid(bias + sum(w) / sqrt(k)) for k known n-grams. Pure Python, thread-safe, ~20 µs
per review. Per-n-gram contributions double as explanations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.model.card import ModelCard
from pipeline.model.labels import binary_to_three

ARTEFACT = "ngram_model.json"


def char_ngrams(text: str, lo: int, hi: int) -> set[str]:
    """Distinct character n-grams of ``text`` (whitespace dropped) for n in [lo, hi]."""
    text = "".join(text.split())
    return {text[i : i + n] for n in range(lo, hi + 1) for i in range(len(text) - n + 1)}


class CharNgramClassifier:
    """Binary (negative/positive) linear model over character n-grams."""

    def __init__(self, model_dir: Path | str, card: ModelCard | None = None) -> None:
        self.model_dir = Path(model_dir)
        data = json.loads((self.model_dir / ARTEFACT).read_text(encoding="utf-8"))
        self.lo, self.hi = (int(x) for x in data["ngram_range"])
        self.bias = float(data["bias"])
        self.weights: dict[str, float] = data["weights"]
        self.card = (
            card
            or ModelCard.load(self.model_dir)
            or ModelCard(version=f"ngram:{self.model_dir.name}", languages=["zh"])
        )

    @staticmethod
    def is_artefact(model_dir: Path | str) -> bool:
        return (Path(model_dir) / ARTEFACT).is_file()

    def _contributions(self, text: str) -> tuple[list[tuple[str, float]], float]:
        grams = [
            (g, self.weights[g]) for g in char_ngrams(text, self.lo, self.hi) if g in self.weights
        ]
        norm = math.sqrt(len(grams)) if grams else 1.0
        return [(g, w / norm) for g, w in grams], norm

    def p_positive(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            contrib, _ = self._contributions(text)
            z = self.bias + sum(w for _, w in contrib)
            out[i] = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(negative, neutral, positive) rows; neutral from low confidence."""
        return binary_to_three(self.p_positive(texts))

    def occlusion(self, text: str, max_terms: int = 64) -> list[tuple[str, float]]:
        """Top n-gram contributions (> 0 pushed positive), longest n-grams preferred."""
        contrib, _ = self._contributions(text)
        contrib.sort(key=lambda t: -abs(t[1]) * len(t[0]))
        return contrib[:max_terms]
