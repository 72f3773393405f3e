"""Fine-tune a sequence classifier from a local checkpoint directory.

One reusable loop: AdamW, linear warm-up then decay, (optionally class-weighted) cross
entropy, dynamic padding, periodic evaluation with early stopping on validation macro-F1,
a seed, a step and a wall-clock budget, a tqdm bar, CUDA when available. The best
checkpoint (by validation macro-F1) is what gets saved, also when the run is interrupted
(Ctrl-C / SIGINT) after its first evaluation.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pipeline.model.metrics import Metrics, compute_metrics

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    get_linear_schedule_with_warmup,
)

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    """Hyper-parameters and budgets of one fine-tuning run."""

    labels: list[str] = field(default_factory=lambda: ["negative", "neutral", "positive"])
    max_len: int = 64
    batch_size: int = 16
    lr: float = 6e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    epochs: float = 1.0
    max_steps: int | None = None
    time_budget_s: float | None = None
    eval_every: int = 200
    patience: int = 3
    class_weights: str | list[float] | None = "balanced"
    label_smoothing: float = 0.0
    grad_clip: float = 1.0
    seed: int = 13
    device: str = "auto"
    num_threads: int | None = None
    eval_batch_size: int = 64


@dataclass
class FinetuneResult:
    """What a run produced: where, how far it got, and the best validation metrics."""

    out_dir: Path
    steps: int
    best_step: int
    seconds: float
    val_metrics: dict
    history: list[dict]
    config: dict


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _class_weights(spec: str | list[float] | None, labels: Sequence[int], n: int) -> torch.Tensor:
    if spec is None:
        return torch.ones(n)
    if spec == "balanced":
        counts = np.bincount(np.asarray(labels), minlength=n).astype(float)
        w = counts.sum() / (n * np.maximum(counts, 1.0))
        return torch.tensor(w, dtype=torch.float32)
    return torch.tensor(list(spec), dtype=torch.float32)


@torch.inference_mode()
def predict_ids(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    max_len: int,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Softmax probabilities for ``texts`` (length-sorted batches, dynamic padding)."""
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer(
            [texts[i] for i in idx],
            truncation=True,
            max_length=max_len,
            padding=True,
            return_tensors="pt",
        ).to(device)
        logits = model(**enc).logits.float()
        probs[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
    return probs


def evaluate(model, tokenizer, texts, labels, cfg: FinetuneConfig, device: torch.device) -> Metrics:
    probs = predict_ids(
        model, tokenizer, texts, max_len=cfg.max_len, batch_size=cfg.eval_batch_size, device=device
    )
    return compute_metrics(list(labels), probs.argmax(1).tolist(), cfg.labels)


def _grouped_f1(gold, pred, groups, labels) -> tuple[float, dict[str, float]]:
    """Mean macro-F1 over the validation groups (each group counts the same)."""
    per_group: dict[str, float] = {}
    for g in sorted(set(groups)):
        idx = [i for i, x in enumerate(groups) if x == g]
        m = compute_metrics([gold[i] for i in idx], [pred[i] for i in idx], labels)
        per_group[str(g)] = round(m.macro_f1, 4)
    return float(np.mean(list(per_group.values()))), per_group


def finetune(
    base_dir: Path | str,
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    val_texts: Sequence[str],
    val_labels: Sequence[int],
    out_dir: Path | str,
    cfg: FinetuneConfig | None = None,
    *,
    val_groups: Sequence[int] | None = None,
    progress: bool | None = None,
) -> FinetuneResult:
    """Fine-tune the checkpoint in ``base_dir`` and save the best one to ``out_dir``.

    A fresh classification head is created when ``base_dir`` has none (or a different
    number of labels); weights are trained in fp32 whatever the checkpoint's dtype. Saved:
    weights (safetensors), tokenizer, ``training_log.json``.

    ``val_groups`` (one id per validation item) makes the selection metric the mean of the
    groups' macro-F1, so a small group (e.g. analysts' labels next to base tweets) weighs as
    much as a large one. ``progress``: tqdm bar (None = only when stderr is a terminal);
    without it, evaluations are logged as plain lines.
    """
    cfg = cfg or FinetuneConfig()
    if len(train_texts) != len(train_labels) or len(val_texts) != len(val_labels):
        raise ValueError("texts and labels differ in length")
    if len(train_texts) < cfg.batch_size:
        raise ValueError(f"{len(train_texts)} training texts: fewer than one batch")
    if val_groups is not None and len(val_groups) != len(val_texts):
        raise ValueError("val_groups and val_texts differ in length")
    if progress is None:
        progress = sys.stderr.isatty()
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg.device)
    n_labels = len(cfg.labels)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_dir),
        dtype=torch.float32,
        num_labels=n_labels,
        id2label=dict(enumerate(cfg.labels)),
        label2id={name: i for i, name in enumerate(cfg.labels)},
        ignore_mismatched_sizes=True,
    ).to(device)

    steps_per_epoch = math.ceil(len(train_texts) / cfg.batch_size)
    total = cfg.max_steps or max(1, int(steps_per_epoch * cfg.epochs))
    no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optim = torch.optim.AdamW(groups, lr=cfg.lr)
    sched = get_linear_schedule_with_warmup(optim, int(total * cfg.warmup_ratio), total)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=_class_weights(cfg.class_weights, train_labels, n_labels).to(device),
        label_smoothing=cfg.label_smoothing,
    )
    use_amp = device.type == "cuda"
    rng = random.Random(cfg.seed)

    def batches():
        while True:
            order = list(range(len(train_texts)))
            rng.shuffle(order)
            for s in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
                yield order[s : s + cfg.batch_size]

    best_f1, best_step, best_state, bad_evals = -1.0, 0, None, 0
    best_metrics: Metrics | None = None
    history: list[dict] = []
    started = time.monotonic()
    step = 0
    running = 0.0
    bar = tqdm(total=total, desc="fine-tune", unit="step", dynamic_ncols=True, disable=not progress)

    def say(line: str) -> None:
        if progress:
            tqdm.write(line)
        else:
            log.info("%s", line)

    log.info(
        "fine-tuning %s on %d texts (%d validation) for up to %d steps on %s",
        base_dir,
        len(train_texts),
        len(val_texts),
        total,
        device,
    )
    try:
        for idx in batches():
            model.train()
            enc = tokenizer(
                [train_texts[i] for i in idx],
                truncation=True,
                max_length=cfg.max_len,
                padding=True,
                return_tensors="pt",
            ).to(device)
            target = torch.tensor([train_labels[i] for i in idx], device=device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                logits = model(**enc).logits
            loss = loss_fn(logits.float(), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", best_f1=f"{max(best_f1, 0):.3f}")
            out_of_time = cfg.time_budget_s is not None and (
                time.monotonic() - started >= cfg.time_budget_s
            )
            if step % cfg.eval_every == 0 or step >= total or out_of_time:
                probs = predict_ids(
                    model,
                    tokenizer,
                    val_texts,
                    max_len=cfg.max_len,
                    batch_size=cfg.eval_batch_size,
                    device=device,
                )
                pred = probs.argmax(1).tolist()
                m = compute_metrics(list(val_labels), pred, cfg.labels)
                score, per_group = m.macro_f1, None
                if val_groups is not None:
                    score, per_group = _grouped_f1(list(val_labels), pred, val_groups, cfg.labels)
                entry = {
                    "step": step,
                    "seconds": round(time.monotonic() - started, 1),
                    "train_loss": round(running, 4),
                    "val_accuracy": round(m.accuracy, 4),
                    "val_macro_recall": round(m.macro_recall, 4),
                    "val_macro_f1": round(m.macro_f1, 4),
                }
                if per_group is not None:
                    entry["val_group_macro_f1"] = per_group
                    entry["val_selection"] = round(score, 4)
                history.append(entry)
                say(json.dumps(entry))
                if score > best_f1:
                    best_f1, best_step, best_metrics, bad_evals = score, step, m, 0
                    best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
                else:
                    bad_evals += 1
                if bad_evals >= cfg.patience:
                    say(f"early stop at step {step}: no val gain in {bad_evals} evals")
                    break
            if step >= total or out_of_time:
                break
    except KeyboardInterrupt:
        say(f"interrupted at step {step}: keeping the best checkpoint so far")
    bar.close()
    if best_state is None or best_metrics is None:
        raise RuntimeError("stopped before the first evaluation: nothing to save")
    model.load_state_dict(best_state)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    seconds = time.monotonic() - started
    result = FinetuneResult(
        out_dir=out,
        steps=step,
        best_step=best_step,
        seconds=round(seconds, 1),
        val_metrics=best_metrics.to_dict(),
        history=history,
        config=asdict(cfg),
    )
    (out / "training_log.json").write_text(
        json.dumps({k: v for k, v in asdict(result).items() if k != "out_dir"}, indent=2)
    )
    return result
