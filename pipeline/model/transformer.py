"""A local ``AutoModelForSequenceClassification`` checkpoint as a batched 3-class scorer."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from pipeline.model.card import ModelCard
from pipeline.model.labels import label_groups, to_three
from pipeline.model.preprocess import normalize_text

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transformers import AutoModelForSequenceClassification, AutoTokenizer

_WORD = re.compile(r"\S+")


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TransformerClassifier:
    """Batched inference over one checkpoint directory.

    The whole batch is tokenised at once (no padding), sorted by length and padded per
    sub-batch (dynamic padding); inference runs under ``torch.inference_mode`` with bf16/fp16
    autocast on CUDA. Safe to call from several threads (the tokenizer is guarded by a lock).
    """

    def __init__(
        self,
        model_dir: Path | str,
        *,
        device: str = "auto",
        max_len: int = 128,
        batch_size: int = 64,
        card: ModelCard | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(f"{self.model_dir} is not a checkpoint (no config.json)")
        self.device = resolve_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(self.model_dir), dtype=torch.float32
        )
        self.model.to(self.device).eval()
        config = self.model.config
        names = [config.id2label[i] for i in range(config.num_labels)]
        if card is not None and len(card.labels) == config.num_labels:
            names = list(card.labels)
        self.groups = label_groups(names)
        self.card = card or ModelCard.for_checkpoint(self.model_dir, names)
        limit = getattr(config, "max_position_embeddings", 512) or 512
        self.max_len = min(card.max_len if card and card.max_len else max_len, limit)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._autocast = self.device.type == "cuda"
        self._amp_dtype = (
            torch.bfloat16 if self._autocast and torch.cuda.is_bf16_supported() else torch.float16
        )

    @property
    def is_binary(self) -> bool:
        return not self.groups[1]

    def _encode(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            enc = self.tokenizer(texts, truncation=True, max_length=self.max_len)
        return enc["input_ids"]

    def _pad(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(r) for r in rows)
        pad_id = self.tokenizer.pad_token_id or 0
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return {
            "input_ids": torch.from_numpy(ids).to(self.device),
            "attention_mask": torch.from_numpy(mask).to(self.device),
        }

    def raw_probs(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over the checkpoint's own classes, rows in input order."""
        if not texts:
            return np.zeros((0, self.model.config.num_labels), dtype=np.float32)
        ids = self._encode([normalize_text(t) or "." for t in texts])
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), self.model.config.num_labels), dtype=np.float32)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=self._amp_dtype, enabled=self._autocast),
        ):
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                logits = self.model(**self._pad([ids[i] for i in idx])).logits
                out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(negative, neutral, positive) probabilities, one row per text."""
        return to_three(self.raw_probs(texts).astype(np.float64), self.groups)

    def occlusion(self, text: str, max_words: int = 64) -> list[tuple[str, float]]:
        """Per-word attributions by occlusion on the log-odds ``log P(pos) - log P(neg)``.

        Each word's score is how much the log-odds drop when it is removed: > 0 means the
        word pushed the text towards positive, < 0 towards negative. Log-odds (not
        probabilities) keep redundant cues visible when the prediction is saturated.
        """
        words = _WORD.findall(text)[:max_words]
        if not words:
            return []
        variants = [" ".join(words)] + [
            " ".join(words[:i] + words[i + 1 :]) for i in range(len(words))
        ]
        probs = np.clip(self.predict_proba(variants), 1e-9, 1.0)
        log_odds = np.log(probs[:, 2]) - np.log(probs[:, 0])
        return [(w, float(log_odds[0] - log_odds[i + 1])) for i, w in enumerate(words)]
