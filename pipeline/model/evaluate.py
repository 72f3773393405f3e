"""Scoring a labeled file with one method: the fused scorer, one model alone, or a baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.model.fusion import binary_predictions
from pipeline.model.labels import binary_to_three
from pipeline.model.lexicon import lexicon_for
from pipeline.model.metrics import Metrics, compute_metrics
from pipeline.model.preprocess import route_texts
from pipeline.model.scorer import RoutedScorer
from pipeline.schemas import SENTIMENT_LABELS
from pipeline.text.language import detect_language

Method = Literal["fused", "model", "multi", "lexicon", "snownlp"]
LEXICON_THRESHOLD = 0.05  # VADER's own convention: compound >= 0.05 positive, <= -0.05 negative


def read_labeled(
    texts_file: Path | None, labels_file: Path | None, tsv: Path | None
) -> tuple[list[str], list[int]]:
    """Parallel text/label files (one per line), or a ``label<TAB>text`` file with a header."""
    if tsv is not None:
        texts, labels = [], []
        for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
            label, _, text = line.partition("\t")
            if label.strip():
                texts.append(text.strip())
                labels.append(int(label))
        return texts, labels
    if texts_file is None or labels_file is None:
        raise ValueError("give --texts and --labels, or --tsv")
    texts = texts_file.read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in labels_file.read_text(encoding="utf-8").split()]
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    return texts, labels


def _lexicon_probs(text: str, lang: str) -> list[float]:
    lexicon = lexicon_for(lang)
    c = lexicon.analyze(text).compound if lexicon else 0.0
    if c >= LEXICON_THRESHOLD:
        return [0.0, 0.0, 1.0]
    if c <= -LEXICON_THRESHOLD:
        return [1.0, 0.0, 0.0]
    return [0.0, 1.0, 0.0]


def method_probs(
    scorer: RoutedScorer,
    texts: Sequence[str],
    langs: Sequence[str],
    method: Method,
    batch_size: int = 256,
) -> np.ndarray:
    """(negative, neutral, positive) rows for ``texts`` by ``method``."""
    if method == "lexicon":
        return np.array([_lexicon_probs(t, lang) for t, lang in zip(texts, langs, strict=True)])
    if method == "snownlp":
        from snownlp import SnowNLP

        return binary_to_three(
            np.array([SnowNLP(t).sentiments if t.strip() else 0.5 for t in texts])
        )
    if method == "multi":
        if scorer.multilingual is None:
            raise ValueError(
                "the multilingual model is not loaded: run `opinion fetch-encoder`, and "
                "check that OPINION_MULTILINGUAL is not false"
            )
        return scorer.multilingual.predict_proba(list(texts))  # batch-invariant encoder
    rows: list[np.ndarray] = []
    for start in range(0, len(texts), batch_size):
        chunk, chunk_langs = texts[start : start + batch_size], langs[start : start + batch_size]
        if method == "fused":
            preds = scorer.predict(chunk, chunk_langs)
            rows.append(np.array([[p.probabilities[k] for k in SENTIMENT_LABELS] for p in preds]))
        else:
            out = np.zeros((len(chunk), 3))
            groups: dict[str, list[int]] = {}
            for i, lang in enumerate(chunk_langs):
                groups.setdefault(scorer.route_for(lang).name, []).append(i)
            for idx in groups.values():
                route = scorer.route_for(chunk_langs[idx[0]])
                out[idx] = route.model.predict_proba(
                    route_texts(route.name, [chunk[i] for i in idx])
                )
            rows.append(out)
    return np.concatenate(rows) if rows else np.zeros((0, 3))


def is_binary(gold: Sequence[int], binary: bool | None = None) -> bool:
    """Whether ``gold`` is binary (0 negative / 1 positive) or 3-class (0 / 1 neutral / 2).

    ``binary=None`` infers it: 3-class when any label is 2, binary when only 0 and 1 occur
    (ChnSentiCorp). Raises on labels outside 0-2, or a 2 in a file declared binary.
    """
    found = set(gold)
    if not found <= {0, 1, 2}:
        raise ValueError(f"labels must be 0/1/2 (or 0/1 with --binary), found {sorted(found)}")
    if binary is None:
        return 2 not in found
    if binary and 2 in found:
        raise ValueError("label 2 in a file scored as --binary: drop --binary (3-class labels)")
    return binary


def evaluate_texts(
    scorer: RoutedScorer,
    texts: list[str],
    gold: list[int],
    *,
    lang: str = "auto",
    method: Method = "fused",
    binary: bool | None = False,
) -> Metrics:
    """Metrics of ``method`` on ``texts``; ``binary=None`` infers the label kind (``is_binary``)."""
    binary = is_binary(gold, binary)
    langs = [detect_language(t) if lang == "auto" else lang for t in texts]
    probs = method_probs(scorer, texts, langs, method)
    if binary:
        return compute_metrics(gold, binary_predictions(probs), ["negative", "positive"])
    return compute_metrics(gold, probs.argmax(1).tolist(), list(SENTIMENT_LABELS))
