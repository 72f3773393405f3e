"""The routed scorer: language -> model (+ lexicon fusion) -> ``Prediction``.

Routes: ``en`` (the English/default checkpoint fused with VADER, then pooled with the
multilingual model's opinion at the English card's ``multi_pool_weight``), ``zh`` (the
Chinese model: ``settings.zh_model_dir`` if set, else the bundled n-gram model, fused with
the Chinese lexicon), and for every other language ``multi`` (a head on the multilingual
sentence encoder; no lexicon, since VADER is English-only). Undetermined text (``und``:
emoji, very short) goes to ``en``. When the default checkpoint's card lists more languages
(a multilingual checkpoint), other languages go to it instead (route ``default``); without
the encoder (not fetched, or ``OPINION_MULTILINGUAL=false``) to the English model
(``en-fallback``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.model.fusion import fuse
from pipeline.model.lexicon import LexiconResult, lexicon_for
from pipeline.model.preprocess import route_texts
from pipeline.model.types import Prediction
from pipeline.schemas import SENTIMENT_LABELS
from pipeline.text.language import UNDETERMINED, detect_language

MAX_EXPLANATION_TERMS = 5


class ProbModel(Protocol):
    """Anything that maps texts to (negative, neutral, positive) rows and explains one."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def occlusion(self, text: str, max_words: int = 64) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class Route:
    """A model for a language, the lexicon weight to fuse with, and its name.

    ``second``: another model whose probabilities are pooled into the fused ones,
    ``(1 - second_weight) * fused + second_weight * p_second`` (the English route's
    multilingual opinion).
    """

    name: str
    model: ProbModel
    fusion_weight: float
    lexicon_lang: str | None
    second: ProbModel | None = None
    second_weight: float = 0.0


def explanation_terms(
    label_idx: int, lex: LexiconResult | None, k: int = MAX_EXPLANATION_TERMS
) -> list[str]:
    """Lexicon terms that pushed towards the label (both directions for neutral)."""
    if lex is None:
        return []
    if label_idx == 0:
        terms = [w for w, v in lex.terms if v < 0]
    elif label_idx == 2:
        terms = [w for w, v in lex.terms if v > 0]
    else:
        terms = [w for w, _ in lex.terms]
    seen: list[str] = []
    for w in terms:
        if w.lower() not in (s.lower() for s in seen):
            seen.append(w)
    return seen[:k]


class RoutedScorer:
    """Implements ``SentimentScorer``; safe to share between worker threads."""

    def __init__(
        self,
        routes: dict[str, Route],
        fallback: str,
        version: str,
        cards: dict[str, object] | None = None,
        versions: dict[str, str] | None = None,
    ) -> None:
        self.routes = routes
        self.fallback = fallback
        self.version = version
        self.cards = cards or {}
        self.versions = versions or {}

    @property
    def multilingual(self) -> ProbModel | None:
        """The multilingual model, when loaded (the English route carries it for pooling)."""
        en = self.routes.get("en")
        return en.second if en is not None else None

    def version_for(self, route: str) -> str:
        """The version of the model behind ``route`` (``version`` is the default model's)."""
        return self.versions.get(route, self.version)

    def route_for(self, lang: str) -> Route:
        """The route for ``lang``; undetermined text (emoji, "lol") goes to ``en`` (VADER
        covers emoji and slang), other languages to the fallback."""
        if lang in self.routes:
            return self.routes[lang]
        if lang == UNDETERMINED and "en" in self.routes:
            return self.routes["en"]
        return self.routes[self.fallback]

    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        """Score a batch: one model call per route, lexicon per text, fusion, labels."""
        if langs is not None and len(langs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(langs)} langs")
        resolved = [
            (langs[i] if langs is not None and langs[i] else None) or detect_language(t)
            for i, t in enumerate(texts)
        ]
        resolved = [str(lang).lower().split("-")[0] for lang in resolved]
        results: list[Prediction | None] = [None] * len(texts)
        by_route: dict[str, list[int]] = {}
        for i, lang in enumerate(resolved):
            by_route.setdefault(self.route_for(lang).name, []).append(i)
        for name, idx in by_route.items():
            route = next(r for r in self.routes.values() if r.name == name)
            batch = route_texts(name, [texts[i] for i in idx])  # zh: Traditional -> Simplified
            probs = route.model.predict_proba(batch)
            lexicon = lexicon_for(route.lexicon_lang) if route.lexicon_lang else None
            lex = [lexicon.analyze(t) if lexicon else None for t in batch]
            fused = fuse(probs, [r.compound if r else None for r in lex], route.fusion_weight)
            if route.second is not None and route.second_weight > 0:
                second = route.second.predict_proba(batch)
                fused = (1 - route.second_weight) * fused + route.second_weight * second
            fused = fused / fused.sum(axis=1, keepdims=True)
            # Whole-batch numpy, then plain floats: no per-row numpy calls in this loop.
            labels = fused.argmax(axis=1).tolist()
            for row, label_idx, i, lx in zip(fused.tolist(), labels, idx, lex, strict=True):
                neg, neu, pos = (round(v, 6) for v in row)
                results[i] = Prediction(
                    label=SENTIMENT_LABELS[label_idx],
                    probabilities={"negative": neg, "neutral": neu, "positive": pos},
                    negativity=neg,
                    explanation=explanation_terms(label_idx, lx),
                    lexicon_score=None if lx is None else round(lx.compound, 4),
                    lang=resolved[i],
                    route=name,
                )
        return [r for r in results if r is not None]

    def explain(self, text: str, lang: str | None = None) -> list[tuple[str, float]]:
        """Per-token attributions from the routed model (occlusion; > 0 = towards positive)."""
        lang = (lang or detect_language(text)).lower().split("-")[0]
        route = self.route_for(lang)
        return route.model.occlusion(route_texts(route.name, [text])[0])
