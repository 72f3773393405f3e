"""The optional trusted label set (``OPINION_TRAINING_TRUSTED_LABELS``): texts labelled by
people the operator trusts, kept out of Kafka, which the gate checks besides the held-out sets.

Format, chosen by the extension: ``.csv`` with a header naming ``text`` and ``label`` (and
optionally ``lang``), or ``.jsonl`` with one ``{"text": ..., "label": ...}`` object per line.
A label is a class name (``negative``, ``neutral``, ``positive``) or its id (0, 1, 2).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.model.preprocess import normalize_text
from pipeline.schemas import SENTIMENT_LABELS
from pipeline.text.language import detect_language
from training.datasets import LABEL_IDS, Split


class TrustedLabelsError(ValueError):
    """The trusted label file cannot be read; the message says where and what to fix."""


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="") as fh:
        if suffix == ".csv":
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise TrustedLabelsError(f"{path}: the CSV header must name text and label")
            for n, row in enumerate(reader, start=2):
                yield n, row
        elif suffix in (".jsonl", ".ndjson"):
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    raise TrustedLabelsError(f"{path}:{n}: not JSON ({exc})") from exc
                if not isinstance(obj, dict):
                    raise TrustedLabelsError(f"{path}:{n}: expected a JSON object")
                yield n, obj
        else:
            raise TrustedLabelsError(f"{path}: use a .csv or .jsonl file")


def _label_id(value: Any) -> int | None:
    text = str(value).strip().lower()
    if text in LABEL_IDS:
        return LABEL_IDS[text]
    if text.isdigit() and int(text) < len(SENTIMENT_LABELS):
        return int(text)
    return None


def load_trusted(path: Path | str) -> Split:
    """The trusted set as a ``Split``; ``TrustedLabelsError`` names the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise TrustedLabelsError(f"OPINION_TRAINING_TRUSTED_LABELS: no file at {path}")
    out = Split()
    for n, row in _rows(path):
        text = normalize_text(str(row.get("text") or ""))
        label = _label_id(row.get("label"))
        if not text.strip() or label is None:
            raise TrustedLabelsError(
                f"{path}:{n}: needs a text and a label (negative/neutral/positive or 0/1/2)"
            )
        lang = row.get("lang") or detect_language(text)
        out.add(text, label, str(lang).lower().split("-")[0])
    if not len(out):
        raise TrustedLabelsError(f"{path}: no labels in the file")
    return out
