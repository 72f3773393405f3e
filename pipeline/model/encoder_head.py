"""A 3-class softmax-regression head on the multilingual sentence encoder's embeddings.

Artefact: ``encoder_head.json`` = {"encoder": "<name>", "classes": [negative, neutral,
positive], "weights": 3 x 512 floats, "bias": 3 floats}, next to a ``model_card.json``.
P = softmax(W e + b) for the embedding e. Built by ``python -m training.build_multilingual``
(tweets in seven languages); the bundled one is ``pipeline/model/bundled/multi``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.model.card import ModelCard
from pipeline.model.occlusion import word_occlusion
from pipeline.model.sentence_encoder import ENCODER_DIM, ENCODER_NAME, SentenceEncoder
from pipeline.schemas import SENTIMENT_LABELS

HEAD_ARTEFACT = "encoder_head.json"


def softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def save_head(out: Path, weights: np.ndarray, bias: np.ndarray) -> Path:
    """Write the artefact (weights rounded to 6 decimals: ~60 KB of JSON)."""
    if weights.shape != (len(SENTIMENT_LABELS), ENCODER_DIM):
        raise ValueError(f"weights must be 3 x {ENCODER_DIM}, not {weights.shape}")
    path = Path(out) / HEAD_ARTEFACT
    data = {
        "encoder": ENCODER_NAME,
        "classes": list(SENTIMENT_LABELS),
        "weights": np.round(weights, 6).tolist(),
        "bias": np.round(bias, 6).tolist(),
    }
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    return path


class EncoderHeadClassifier:
    """(negative, neutral, positive) probabilities for texts in any of the encoder's languages."""

    def __init__(
        self, model_dir: Path | str, encoder: SentenceEncoder, card: ModelCard | None = None
    ) -> None:
        self.model_dir = Path(model_dir)
        data = json.loads((self.model_dir / HEAD_ARTEFACT).read_text(encoding="utf-8"))
        if data.get("encoder") != ENCODER_NAME or data.get("classes") != list(SENTIMENT_LABELS):
            raise ValueError(
                f"{self.model_dir / HEAD_ARTEFACT}: a head for encoder {data.get('encoder')!r} "
                f"with classes {data.get('classes')}, expected {ENCODER_NAME!r} and "
                f"{list(SENTIMENT_LABELS)}"
            )
        self.weights = np.asarray(data["weights"], dtype=np.float32)
        self.bias = np.asarray(data["bias"], dtype=np.float32)
        self.encoder = encoder
        self.card = (
            card
            or ModelCard.load(self.model_dir)
            or ModelCard(version=f"head:{self.model_dir.name}", languages=["*"])
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 3))
        logits = self.encoder.encode(texts) @ self.weights.T + self.bias
        return softmax_rows(logits.astype(np.float64))

    def occlusion(self, text: str, max_words: int = 64) -> list[tuple[str, float]]:
        """Per-word attributions (``pipeline.model.occlusion.word_occlusion``)."""
        return word_occlusion(self.predict_proba, text, max_words)
