"""A local ``AutoModelForSequenceClassification`` checkpoint as a batched 3-class scorer."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from pipeline.model.batching import length_sorted_batches, pad_right, unpadded_backend
from pipeline.model.card import ModelCard
from pipeline.model.compact import COMPACT_FILE, is_compact, load_compact
from pipeline.model.labels import label_groups, to_three
from pipeline.model.occlusion import word_occlusion
from pipeline.model.preprocess import normalize_text

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

Quantize = Literal["auto", "none", "int8"]
# Texts per forward pass on CPU: 16 ran 1.5-1.7x faster than 64 here (1 or 2 threads, default
# and fast model; BENCHMARKS.md): smaller activations stay in cache, padding is shorter.
CPU_BATCH = 16
CUDA_BATCH = 256


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every ``nn.Linear`` (CPU inference only).

    Weights are stored int8 per output channel, activations quantised per batch at run time
    (``torch.ao.quantization.quantize_dynamic``; deprecated in favour of ``torchao``, which is
    not installed here, but still supported by torch 2.13).
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


def load_checkpoint(model_dir: Path) -> torch.nn.Module:
    """fp32 model from a HF checkpoint dir, or from compact int8-row weights (``compact``)."""
    if is_compact(model_dir):
        config = AutoConfig.from_pretrained(str(model_dir))
        model = AutoModelForSequenceClassification.from_config(config)
        result = model.load_state_dict(load_compact(model_dir / COMPACT_FILE), strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
        if missing or result.unexpected_keys:
            raise ValueError(
                f"{model_dir / COMPACT_FILE} does not match config.json: missing {missing[:5]}, "
                f"unexpected {result.unexpected_keys[:5]}"
            )
        return model.float()
    return AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32)


class TransformerClassifier:
    """Batched inference over one checkpoint directory.

    The whole call is tokenised at once by the Rust tokenizer (no padding), sorted by token
    length and cut into sub-batches of ``batch_size`` padded only to their own longest row
    (length bucketing / dynamic padding); inference runs under ``torch.inference_mode`` with
    bf16/fp16 autocast on CUDA. On CPU, ``quantize="int8"`` applies dynamic int8 quantisation
    (``"auto"``: when the model card's ``cpu_quantize`` says so) and ``num_threads`` sets
    torch's intra-op threads (process-wide; 0 keeps torch's default, one per core). Safe to
    call from several threads (the tokenizer is guarded by a lock).
    """

    def __init__(
        self,
        model_dir: Path | str,
        *,
        device: str = "auto",
        max_len: int = 128,
        batch_size: int | None = None,
        card: ModelCard | None = None,
        quantize: Quantize = "auto",
        num_threads: int = 0,
    ) -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(f"{self.model_dir} is not a checkpoint (no config.json)")
        self.device = resolve_device(device)
        if num_threads > 0 and torch.get_num_threads() != num_threads:
            torch.set_num_threads(num_threads)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        model = load_checkpoint(self.model_dir)
        config = model.config
        names = [config.id2label[i] for i in range(config.num_labels)]
        if card is not None and len(card.labels) == config.num_labels:
            names = list(card.labels)
        self.groups = label_groups(names)
        self.card = card or ModelCard.for_checkpoint(self.model_dir, names)
        wanted = quantize if quantize != "auto" else getattr(self.card, "cpu_quantize", None)
        self.quantized = self.device.type == "cpu" and wanted == "int8"
        model.eval()
        self.model = quantize_int8(model) if self.quantized else model.to(self.device)
        self.num_labels: int = config.num_labels
        limit = getattr(config, "max_position_embeddings", 512) or 512
        self.max_len = min(card.max_len if card and card.max_len else max_len, limit)
        self.batch_size = batch_size or (CUDA_BATCH if self.device.type == "cuda" else CPU_BATCH)
        self._lock = threading.Lock()
        self._autocast = self.device.type == "cuda"
        self._amp_dtype = (
            torch.bfloat16 if self._autocast and torch.cuda.is_bf16_supported() else torch.float16
        )
        self._pad_id = self.tokenizer.pad_token_id or 0
        self._fast = unpadded_backend(self.tokenizer, self.max_len)

    @property
    def is_binary(self) -> bool:
        return not self.groups[1]

    def describe(self) -> dict[str, Any]:
        """What runs where: for benchmarks and logs."""
        return {
            "model_dir": str(self.model_dir),
            "version": self.card.version,
            "device": str(self.device),
            "gpu": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
            "precision": "int8-dynamic"
            if self.quantized
            else (str(self._amp_dtype).removeprefix("torch.") if self._autocast else "float32"),
            "torch_threads": torch.get_num_threads(),
            "batch_size": self.batch_size,
            "max_len": self.max_len,
            "attention": getattr(self.model.config, "_attn_implementation", None),
            "layers": getattr(self.model.config, "num_hidden_layers", None),
        }

    def _encode(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            if self._fast is not None:
                encode = getattr(self._fast, "encode_batch_fast", self._fast.encode_batch)
                return [e.ids for e in encode(texts)]
            enc = self.tokenizer(texts, truncation=True, max_length=self.max_len)
        return enc["input_ids"]

    def _pad(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_right(rows, self._pad_id)
        cuda = self.device.type == "cuda"
        return {
            "input_ids": torch.from_numpy(ids).to(self.device, non_blocking=cuda),
            "attention_mask": torch.from_numpy(mask).to(self.device, non_blocking=cuda),
        }

    def raw_probs(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over the checkpoint's own classes, rows in input order."""
        if not texts:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        ids = self._encode([normalize_text(t) or "." for t in texts])
        out = np.zeros((len(ids), self.num_labels), dtype=np.float32)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=self._amp_dtype, enabled=self._autocast),
        ):
            for idx in length_sorted_batches(ids, self.batch_size):
                logits = self.model(**self._pad([ids[i] for i in idx])).logits
                out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(negative, neutral, positive) probabilities, one row per text."""
        return to_three(self.raw_probs(texts).astype(np.float64), self.groups)

    def occlusion(self, text: str, max_words: int = 64) -> list[tuple[str, float]]:
        """Per-word attributions (``pipeline.model.occlusion.word_occlusion``)."""
        return word_occlusion(self.predict_proba, text, max_words)
