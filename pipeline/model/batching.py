"""Token rows for forward passes (torch and ONNX): the unpadded fast tokenizer, length-sorted
batches and right padding."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np


def unpadded_backend(tokenizer: Any, max_len: int) -> Any | None:
    """A fast tokenizer's Rust backend, truncating like ``tokenizer(..., truncation=True,
    max_length=max_len)`` and not padding (``encode_batch_fast`` skips the offsets and the
    Python ``BatchEncoding``); None for a slow tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not getattr(tokenizer, "is_fast", False) or backend is None:
        return None
    backend = copy.deepcopy(backend)
    backend.no_padding()
    backend.enable_truncation(max_len, direction=getattr(tokenizer, "truncation_side", "right"))
    return backend


def length_sorted_batches(rows: list[list[int]], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``rows`` in batches of ``batch_size``, shortest rows first (least padding)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad_right(rows: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``input_ids`` and ``attention_mask`` (int64, rows right-padded to the longest)."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask
