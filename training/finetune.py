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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

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
    """The torch device for ``device`` ("auto": CUDA when available, else the CPU)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _class_weights(spec: str | list[float] | None, labels: Sequence[int], n: int) -> torch.Tensor:
    """Loss weights per class: none (all 1), "balanced" (inverse frequency) or explicit."""
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
    """Metrics of ``model``'s predictions on ``texts`` against ``labels``."""
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


@dataclass(frozen=True)
class _Data:
    """The training and validation sets of one run (``val_groups``: see ``finetune``)."""

    train_texts: Sequence[str]
    train_labels: Sequence[int]
    val_texts: Sequence[str]
    val_labels: Sequence[int]
    val_groups: Sequence[int] | None


@dataclass(frozen=True)
class _Trainer:
    """What the training loop works with, built once before it starts."""

    cfg: FinetuneConfig
    device: torch.device
    tokenizer: Any
    model: torch.nn.Module
    optim: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    loss_fn: torch.nn.CrossEntropyLoss
    total_steps: int
    say: Callable[[str], None]


class _Evaluation(NamedTuple):
    """One validation pass: its history entry, selection score and metrics."""

    entry: dict
    score: float
    metrics: Metrics


class _Best(NamedTuple):
    """Early-stopping state: the best checkpoint so far and the evaluations since it."""

    score: float = -1.0
    step: int = 0
    state: dict[str, torch.Tensor] | None = None
    metrics: Metrics | None = None
    bad_evals: int = 0


class _Outcome(NamedTuple):
    """How far the training loop got: steps done, the best checkpoint, every evaluation."""

    steps: int
    best: _Best
    history: list[dict]


def _check_inputs(data: _Data, cfg: FinetuneConfig) -> None:
    """Raise ValueError when texts, labels and groups do not line up or data is too small."""
    train_aligned = len(data.train_texts) == len(data.train_labels)
    if not train_aligned or len(data.val_texts) != len(data.val_labels):
        raise ValueError("texts and labels differ in length")
    if len(data.train_texts) < cfg.batch_size:
        raise ValueError(f"{len(data.train_texts)} training texts: fewer than one batch")
    if data.val_groups is not None and len(data.val_groups) != len(data.val_texts):
        raise ValueError("val_groups and val_texts differ in length")


def _say(line: str, *, progress: bool) -> None:
    """Print ``line`` above the tqdm bar, or log it when there is no bar."""
    if progress:
        tqdm.write(line)
    else:
        log.info("%s", line)


def _load_checkpoint(
    base_dir: Path | str, cfg: FinetuneConfig, device: torch.device
) -> tuple[Any, torch.nn.Module]:
    """The tokenizer and fp32 classifier in ``base_dir`` (a fresh head when it has none)."""
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_dir),
        dtype=torch.float32,
        num_labels=len(cfg.labels),
        id2label=dict(enumerate(cfg.labels)),
        label2id={name: i for i, name in enumerate(cfg.labels)},
        ignore_mismatched_sizes=True,
    ).to(device)
    return tokenizer, model


def _total_steps(n_train: int, cfg: FinetuneConfig) -> int:
    """The step budget: ``max_steps``, else ``epochs`` worth of batches (at least one)."""
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    return cfg.max_steps or max(1, int(steps_per_epoch * cfg.epochs))


def _adamw(model: torch.nn.Module, cfg: FinetuneConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on every parameter but biases and normalisation weights."""
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
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _prepare(base_dir: Path | str, data: _Data, cfg: FinetuneConfig, progress: bool) -> _Trainer:
    """Seed, pick the device, load the checkpoint and build optimiser, schedule and loss."""
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg.device)
    tokenizer, model = _load_checkpoint(base_dir, cfg, device)
    total = _total_steps(len(data.train_texts), cfg)
    optim = _adamw(model, cfg)
    sched = get_linear_schedule_with_warmup(optim, int(total * cfg.warmup_ratio), total)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=_class_weights(cfg.class_weights, data.train_labels, len(cfg.labels)).to(device),
        label_smoothing=cfg.label_smoothing,
    )
    say = partial(_say, progress=progress)
    return _Trainer(cfg, device, tokenizer, model, optim, sched, loss_fn, total, say)


def _shuffled_batches(n: int, batch_size: int, rng: random.Random) -> Iterator[list[int]]:
    """Endless full batches of indices into ``n`` items, reshuffled every epoch."""
    while True:
        order = list(range(n))
        rng.shuffle(order)
        for s in range(0, len(order) - batch_size + 1, batch_size):
            yield order[s : s + batch_size]


def _train_step(trainer: _Trainer, data: _Data, idx: list[int]) -> float:
    """One optimiser step on the training items ``idx``; returns the batch loss."""
    cfg, device, model = trainer.cfg, trainer.device, trainer.model
    model.train()
    enc = trainer.tokenizer(
        [data.train_texts[i] for i in idx],
        truncation=True,
        max_length=cfg.max_len,
        padding=True,
        return_tensors="pt",
    ).to(device)
    target = torch.tensor([data.train_labels[i] for i in idx], device=device)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(**enc).logits
    loss = trainer.loss_fn(logits.float(), target)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    trainer.optim.step()
    trainer.sched.step()
    trainer.optim.zero_grad(set_to_none=True)
    return loss.item()


def _validate(
    trainer: _Trainer, data: _Data, step: int, train_loss: float, started: float
) -> _Evaluation:
    """Score the validation set; the selection score is macro-F1 (or its mean per group)."""
    cfg = trainer.cfg
    probs = predict_ids(
        trainer.model,
        trainer.tokenizer,
        data.val_texts,
        max_len=cfg.max_len,
        batch_size=cfg.eval_batch_size,
        device=trainer.device,
    )
    pred = probs.argmax(1).tolist()
    m = compute_metrics(list(data.val_labels), pred, cfg.labels)
    score, per_group = m.macro_f1, None
    if data.val_groups is not None:
        score, per_group = _grouped_f1(list(data.val_labels), pred, data.val_groups, cfg.labels)
    entry = {
        "step": step,
        "seconds": round(time.monotonic() - started, 1),
        "train_loss": round(train_loss, 4),
        "val_accuracy": round(m.accuracy, 4),
        "val_macro_recall": round(m.macro_recall, 4),
        "val_macro_f1": round(m.macro_f1, 4),
    }
    if per_group is not None:
        entry["val_group_macro_f1"] = per_group
        entry["val_selection"] = round(score, 4)
    return _Evaluation(entry, score, m)


def _track_best(best: _Best, evaluation: _Evaluation, step: int, model: torch.nn.Module) -> _Best:
    """``best`` after an evaluation: a CPU copy of the weights when it improved, else one
    more evaluation without gain."""
    if evaluation.score > best.score:
        state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
        return _Best(evaluation.score, step, state, evaluation.metrics, 0)
    return best._replace(bad_evals=best.bad_evals + 1)


def _out_of_time(cfg: FinetuneConfig, started: float) -> bool:
    """Whether the wall-clock budget (if any) is spent."""
    return cfg.time_budget_s is not None and (time.monotonic() - started >= cfg.time_budget_s)


def _train(trainer: _Trainer, data: _Data, bar: tqdm, started: float) -> _Outcome:
    """Train until the step or time budget is spent, early stopping or Ctrl-C, evaluating
    every ``eval_every`` steps and at the end."""
    cfg = trainer.cfg
    rng = random.Random(cfg.seed)
    best, step, running = _Best(), 0, 0.0
    history: list[dict] = []
    try:
        for idx in _shuffled_batches(len(data.train_texts), cfg.batch_size, rng):
            loss = _train_step(trainer, data, idx)
            step += 1
            running = 0.98 * running + 0.02 * loss if step > 1 else loss
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", best_f1=f"{max(best.score, 0):.3f}")
            out_of_time = _out_of_time(cfg, started)
            if step % cfg.eval_every == 0 or step >= trainer.total_steps or out_of_time:
                evaluation = _validate(trainer, data, step, running, started)
                history.append(evaluation.entry)
                trainer.say(json.dumps(evaluation.entry))
                best = _track_best(best, evaluation, step, trainer.model)
                if best.bad_evals >= cfg.patience:
                    trainer.say(f"early stop at step {step}: no val gain in {best.bad_evals} evals")
                    break
            if step >= trainer.total_steps or out_of_time:
                break
    except KeyboardInterrupt:
        trainer.say(f"interrupted at step {step}: keeping the best checkpoint so far")
    return _Outcome(step, best, history)


def _save_best(
    trainer: _Trainer, outcome: _Outcome, out_dir: Path | str, started: float
) -> FinetuneResult:
    """Save the best checkpoint, the tokenizer and ``training_log.json`` to ``out_dir``."""
    best = outcome.best
    if best.state is None or best.metrics is None:
        raise RuntimeError("stopped before the first evaluation: nothing to save")
    trainer.model.load_state_dict(best.state)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(out, safe_serialization=True)
    trainer.tokenizer.save_pretrained(out)
    seconds = time.monotonic() - started
    result = FinetuneResult(
        out_dir=out,
        steps=outcome.steps,
        best_step=best.step,
        seconds=round(seconds, 1),
        val_metrics=best.metrics.to_dict(),
        history=outcome.history,
        config=asdict(trainer.cfg),
    )
    (out / "training_log.json").write_text(
        json.dumps({k: v for k, v in asdict(result).items() if k != "out_dir"}, indent=2)
    )
    return result


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
    data = _Data(train_texts, train_labels, val_texts, val_labels, val_groups)
    _check_inputs(data, cfg)
    if progress is None:
        progress = sys.stderr.isatty()
    trainer = _prepare(base_dir, data, cfg, progress)
    started = time.monotonic()
    bar = tqdm(
        total=trainer.total_steps,
        desc="fine-tune",
        unit="step",
        dynamic_ncols=True,
        disable=not progress,
    )
    log.info(
        "fine-tuning %s on %d texts (%d validation) for up to %d steps on %s",
        base_dir,
        len(train_texts),
        len(val_texts),
        trainer.total_steps,
        trainer.device,
    )
    outcome = _train(trainer, data, bar, started)
    bar.close()
    return _save_best(trainer, outcome, out_dir, started)
