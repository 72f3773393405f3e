"""A checkpoint's ONNX export run by ONNX Runtime on CPU: same interface as the torch scorer.

``python -m training.export_onnx <checkpoint>`` writes ``model.int8.onnx`` (fused attention,
LayerNorm and GELU, dynamic int8) and/or ``model.onnx`` (fp32) next to the checkpoint's
weights, with the digest of those weights in the file's metadata. ``OnnxClassifier`` reuses
the checkpoint's tokenizer, labels and card, so it scores exactly like
``TransformerClassifier`` (length-sorted dynamic padding, forward passes of ``batch_size``,
softmax over the checkpoint's classes); an export whose weights digest no longer matches the
checkpoint is refused (``StaleExport``), and the loader falls back to torch.

``load_onnx`` is the loader's choice (``onnx_choice``): an export is used on CPU when the
checkpoint has one of the wanted precision; CUDA, and any checkpoint without an export, keep
the torch path. The runtime is ``settings.model_runtime`` (auto | torch | onnx).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from pipeline.config import Settings
from pipeline.model.batching import length_sorted_batches, pad_right, unpadded_backend
from pipeline.model.card import ModelCard
from pipeline.model.labels import label_groups, to_three
from pipeline.model.occlusion import word_occlusion
from pipeline.model.preprocess import normalize_text

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)
Precision = Literal["int8", "fp32"]
Runtime = Literal["auto", "torch", "onnx"]
ONNX_FILES: dict[Precision, str] = {"int8": "model.int8.onnx", "fp32": "model.onnx"}
# Metadata keys written by the export (``training.export_onnx``), read back here.
META_WEIGHTS = "opinion.weights_sha256"
META_PRECISION = "opinion.precision"
META_SOURCE = "opinion.source_version"
CPU_BATCH = 16  # as TransformerClassifier on CPU (BENCHMARKS.md)
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin")


class StaleExport(ValueError):
    """The ONNX file was exported from other weights than the checkpoint's current ones."""


def weights_digest(model_dir: Path) -> str:
    """sha256 over the checkpoint's weight files (names and bytes, sorted by name)."""
    digest = hashlib.sha256()
    files = sorted({p for pattern in WEIGHT_GLOBS for p in Path(model_dir).glob(pattern)})
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def find_onnx(model_dir: Path, precision: Precision | None = None) -> Path | None:
    """The export to run: ``precision``'s file, or with None int8 before fp32; None if absent."""
    wanted: tuple[Precision, ...] = (precision,) if precision else ("int8", "fp32")
    for name in wanted:
        path = Path(model_dir) / ONNX_FILES[name]
        if path.is_file():
            return path
    return None


def session_options(num_threads: int) -> Any:
    """One sequential graph, ``num_threads`` intra-op threads (0 = ORT's default: one per
    core), no spinning (idle threads would burn the cores other processes share)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def read_config(model_dir: Path) -> dict[str, Any]:
    """The checkpoint's ``config.json``."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} is not a checkpoint (no config.json)")
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return config


def _label_names(config: dict[str, Any], card: ModelCard | None) -> list[str]:
    """Class names in logit order: the card's when it has one per class, else the config's."""
    id2label = {int(k): str(v) for k, v in config.get("id2label", {}).items()}
    names = [id2label.get(i, f"LABEL_{i}") for i in range(len(id2label) or 2)]
    if card is not None and len(card.labels) == len(names):
        return list(card.labels)
    return names


class OnnxClassifier:
    """Batched CPU inference over a checkpoint's ONNX export (thread-safe, like
    ``TransformerClassifier``: the tokenizer is guarded by a lock, ORT runs are re-entrant).

    ``num_threads`` sets ORT's intra-op threads of this session (0 = one per core).
    """

    def __init__(
        self,
        model_dir: Path | str,
        *,
        onnx_path: Path | None = None,
        max_len: int = 128,
        batch_size: int | None = None,
        card: ModelCard | None = None,
        num_threads: int = 0,
        check_weights: bool = True,
    ) -> None:
        import onnxruntime as ort

        self.model_dir = Path(model_dir)
        config = read_config(self.model_dir)
        path = onnx_path or find_onnx(self.model_dir)
        if path is None:
            raise FileNotFoundError(f"{self.model_dir} has no ONNX export")
        self.onnx_path = Path(path)
        self.session = ort.InferenceSession(
            str(self.onnx_path), session_options(num_threads), providers=["CPUExecutionProvider"]
        )
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        if check_weights:
            self._check_fresh()
        names = _label_names(config, card)
        self.num_labels = len(names)
        self.groups = label_groups(names)
        self.card = card or ModelCard.for_checkpoint(self.model_dir, names)
        limit = int(config.get("max_position_embeddings") or 512)
        self.max_len = min(card.max_len if card and card.max_len else max_len, limit)
        self.batch_size = batch_size or CPU_BATCH
        self.num_threads = num_threads
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()
        self._tokenizer, self._pad_id = self._load_tokenizer()

    def _check_fresh(self) -> None:
        """Raise ``StaleExport`` when the export's recorded weights digest is not the
        checkpoint's (an export without one is trusted)."""
        recorded = self.metadata.get(META_WEIGHTS)
        if recorded and recorded != weights_digest(self.model_dir):
            raise StaleExport(
                f"{self.onnx_path} was exported from other weights than {self.model_dir}'s: "
                "re-export it (python -m training.export_onnx)"
            )

    def _load_tokenizer(self) -> tuple[Any, int]:
        """The checkpoint's fast tokenizer backend, truncating to ``max_len``, no padding
        (what ``TransformerClassifier`` encodes with), and its pad id."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        backend = unpadded_backend(tokenizer, self.max_len)
        if backend is None:
            raise ValueError(f"{self.model_dir}: the ONNX path needs a fast tokenizer")
        return backend, tokenizer.pad_token_id or 0

    @property
    def quantized(self) -> bool:
        return self.metadata.get(META_PRECISION) == "int8-dynamic"

    @property
    def is_binary(self) -> bool:
        return not self.groups[1]

    def describe(self) -> dict[str, Any]:
        """What runs where: for benchmarks and logs (the keys of the torch scorer's)."""
        import onnxruntime as ort

        return {
            "model_dir": str(self.model_dir),
            "version": self.card.version,
            "device": "cpu",
            "gpu": None,
            "runtime": f"onnxruntime {ort.__version__}",
            "onnx_file": self.onnx_path.name,
            "precision": self.metadata.get(META_PRECISION, "unknown"),
            "torch_threads": self.num_threads,
            "batch_size": self.batch_size,
            "max_len": self.max_len,
            "attention": "onnxruntime",
            "layers": read_config(self.model_dir).get("num_hidden_layers"),
        }

    def _encode(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
            return [e.ids for e in encode(texts)]

    def _feeds(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """Right-padded ``input_ids`` and ``attention_mask`` (and zero ``token_type_ids`` when
        the graph takes them)."""
        ids, mask = pad_right(rows, self._pad_id)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return feeds

    def raw_probs(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over the checkpoint's own classes, rows in input order."""
        if not texts:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        ids = self._encode([normalize_text(t) or "." for t in texts])
        out = np.zeros((len(ids), self.num_labels), dtype=np.float32)
        for idx in length_sorted_batches(ids, self.batch_size):
            (logits,) = self.session.run(["logits"], self._feeds([ids[i] for i in idx]))
            out[idx] = softmax(logits)
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(negative, neutral, positive) probabilities, one row per text."""
        return to_three(self.raw_probs(texts).astype(np.float64), self.groups)

    def occlusion(self, text: str, max_words: int = 64) -> list[tuple[str, float]]:
        """Per-word attributions (``pipeline.model.occlusion.word_occlusion``)."""
        return word_occlusion(self.predict_proba, text, max_words)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32."""
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def onnx_choice(
    model_dir: Path, *, device: str = "auto", quantize: str = "auto", runtime: Runtime = "auto"
) -> Path | None:
    """The export to score ``model_dir`` with, or None for the torch path.

    ``runtime``: ``torch`` never uses ONNX; ``auto`` uses it on CPU when the checkpoint has an
    export of the wanted precision (``quantize``: int8 -> ``model.int8.onnx``, none ->
    ``model.onnx``, auto -> int8 then fp32); ``onnx`` requires one on any device (CPU
    execution). CUDA keeps torch under ``auto``.
    """
    if runtime == "torch":
        return None
    precision = cast(Precision | None, {"int8": "int8", "none": "fp32"}.get(quantize))
    path = find_onnx(model_dir, precision)
    if runtime == "onnx":
        if path is None:
            raise FileNotFoundError(
                f"{model_dir} has no ONNX export (python -m training.export_onnx)"
            )
        return path
    if path is None:
        return None
    from pipeline.model.transformer import resolve_device

    return path if resolve_device(device).type == "cpu" else None


def load_onnx(model_dir: Path, settings: Settings, card: ModelCard | None) -> OnnxClassifier | None:
    """The ONNX scorer the settings ask for (``onnx_choice``), or None for torch; a stale
    export is skipped with a warning."""
    runtime: Runtime = settings.model_runtime
    path = onnx_choice(
        model_dir, device=settings.device, quantize=settings.model_quantize, runtime=runtime
    )
    if path is None:
        return None
    try:
        return OnnxClassifier(
            model_dir,
            onnx_path=path,
            max_len=settings.max_seq_len,
            batch_size=settings.model_batch_size or None,
            card=card,
            num_threads=settings.torch_threads,
        )
    except StaleExport as exc:
        if runtime == "onnx":
            raise
        log.warning("%s; scoring with torch meanwhile", exc)
        return None
