"""The scorer interface that workers, the dashboard and training code against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipeline.schemas import SentimentLabel


@dataclass(frozen=True)
class Prediction:
    """One scored text.

    ``probabilities`` has the keys negative/neutral/positive (fused, summing to 1);
    ``negativity`` is the fused P(negative); ``explanation`` lists the terms that pushed the
    score towards ``label`` (strongest first); ``lexicon_score`` is the lexicon's compound in
    [-1, 1] (None when no lexicon covers the language); ``route`` names the model that
    scored the text (``en``, ``zh``, ``multi``; ``default`` or ``en-fallback``).
    """

    label: SentimentLabel
    probabilities: dict[str, float]
    negativity: float
    explanation: list[str]
    lexicon_score: float | None
    lang: str
    route: str


@runtime_checkable
class SentimentScorer(Protocol):
    """Batched, thread-safe sentiment scoring."""

    version: str

    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        """Score ``texts`` (``langs`` per text; None or missing = detect)."""
        ...

    def explain(self, text: str, lang: str | None = None) -> list[tuple[str, float]]:
        """Per-token attributions for one text: > 0 pushed positive, < 0 pushed negative."""
        ...

    def version_for(self, route: str) -> str:
        """The version of the model behind ``route`` (``version``: the default model's)."""
        ...
