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


def finetune(
    base_dir: Path | str,
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    val_texts: Sequence[str],
    val_labels: Sequence[int],
    out_dir: Path | str,
    cfg: FinetuneConfig | None = None,
) -> FinetuneResult:
    """Fine-tune the checkpoint in ``base_dir`` and save the best one to ``out_dir``.

    A fresh classification head is created when ``base_dir`` has none (or a different
    number of labels). Saved: weights (safetensors), tokenizer, ``training_log.json``.
    """
    cfg = cfg or FinetuneConfig()
    if len(train_texts) != len(train_labels) or len(val_texts) != len(val_labels):
        raise ValueError("texts and labels differ in length")
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg.device)
    n_labels = len(cfg.labels)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_dir),
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
    bar = tqdm(total=total, desc="fine-tune", unit="step", dynamic_ncols=True)
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
                m = evaluate(model, tokenizer, val_texts, val_labels, cfg, device)
                entry = {
                    "step": step,
                    "seconds": round(time.monotonic() - started, 1),
                    "train_loss": round(running, 4),
                    "val_accuracy": round(m.accuracy, 4),
                    "val_macro_recall": round(m.macro_recall, 4),
                    "val_macro_f1": round(m.macro_f1, 4),
                }
                history.append(entry)
                tqdm.write(json.dumps(entry))
                if m.macro_f1 > best_f1:
                    best_f1, best_step, best_metrics, bad_evals = m.macro_f1, step, m, 0
                    best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
                else:
                    bad_evals += 1
                if bad_evals >= cfg.patience:
                    tqdm.write(f"early stop at step {step}: no val gain in {bad_evals} evals")
                    break
            if step >= total or out_of_time:
                break
    except KeyboardInterrupt:
        tqdm.write(f"interrupted at step {step}: keeping the best checkpoint so far")
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
