"""Torch against ONNX Runtime for one checkpoint, in one process: speed and accuracy.

    python -m training.export_onnx pipeline/model/bundled/en --precision both --out /tmp/onnx/en
    python -m benchmarks.throughput.onnx_vs_torch --onnx-dir /tmp/onnx/en

Options: ``torch-fp32`` and ``torch-int8`` (``TransformerClassifier``, dynamic int8 of its
Linear layers), ``onnx-fp32`` and ``onnx-int8`` (``OnnxClassifier`` over the exports found in
``--onnx-dir``), plus any ``--onnx NAME=FILE``. Speed: model-only posts/s with one thread on
the demo feed's English posts as the worker scores them (calls of ``b`` texts, forward passes
of ``b``). The options are timed in turn, round after round (``--repeats``), so that they
share whatever else the machine is doing; each timing waits until the 1-minute load is at
most ``--max-load`` (at most ``--max-wait-s``) and records the load, the cores other
processes used meanwhile and the process's CPU time: *posts/s* is the best wall-clock rate,
*per CPU s* the best rate per second of this process's CPU (less disturbed by a busy
machine). Accuracy: TweetEval-validation macro-recall with ``--lang en``, as ``opinion eval``
computes it, model alone and fused (the lexicon and the pooled multilingual model: what the
monitor outputs). Prints a Markdown table; ``--json`` writes every number.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.throughput.corpus import model_inputs, take
from benchmarks.throughput.load import ForeignLoad
from pipeline.config import Settings, get_settings
from pipeline.model import BUNDLED_EN, load_scorer
from pipeline.model.card import ModelCard
from pipeline.model.evaluate import evaluate_texts, read_labeled
from pipeline.model.onnx_runtime import ONNX_FILES, OnnxClassifier
from pipeline.model.scorer import ProbModel, RoutedScorer
from pipeline.model.transformer import TransformerClassifier

TWEETEVAL = Path("../shared/data/tweeteval-sentiment")
BASELINE = "torch-fp32"


@dataclasses.dataclass
class Timing:
    """One timing: wall-clock and CPU-time rates, the load before, foreign cores during."""

    posts_per_s: float
    posts_per_cpu_s: float
    load: float
    other_cores: float | None


@dataclasses.dataclass
class Option:
    """One way of running the checkpoint, and what was measured of it."""

    name: str
    build: Callable[[], Any]
    file_mb: float | None = None
    timings: dict[int, list[Timing]] = dataclasses.field(default_factory=dict)
    accuracy: dict[str, float] = dataclasses.field(default_factory=dict)
    labels: np.ndarray | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def best(self, batch: int) -> Timing | None:
        """The timing with the best wall-clock rate at ``batch``."""
        runs = self.timings.get(batch, [])
        return max(runs, key=lambda t: t.posts_per_s) if runs else None

    def best_cpu(self, batch: int) -> float | None:
        runs = self.timings.get(batch, [])
        return max(t.posts_per_cpu_s for t in runs) if runs else None


def load_average() -> float:
    """The 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(max_load: float, max_wait_s: float) -> float:
    """Wait (up to ``max_wait_s``) until the 1-minute load is at most ``max_load``."""
    deadline = time.monotonic() + max_wait_s
    while (load := load_average()) > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return load


def torch_option(model_dir: Path, card: ModelCard | None, quantize: str) -> Callable[[], Any]:
    return lambda: TransformerClassifier(
        model_dir, device="cpu", card=card, quantize=quantize, num_threads=1
    )


def onnx_option(model_dir: Path, card: ModelCard | None, path: Path) -> Callable[[], Any]:
    return lambda: OnnxClassifier(model_dir, onnx_path=path, card=card, num_threads=1)


def options_for(model_dir: Path, onnx_dir: Path, extra: Sequence[str]) -> list[Option]:
    """The torch options, the exports found in ``onnx_dir`` and the ``NAME=FILE`` extras."""
    card = ModelCard.load(model_dir)
    options = [
        Option("torch-fp32", torch_option(model_dir, card, "none")),
        Option("torch-int8", torch_option(model_dir, card, "int8")),
    ]
    files = {f"onnx-{p}": onnx_dir / name for p, name in ONNX_FILES.items()}
    files = {k: v for k, v in sorted(files.items()) if v.is_file()}
    files.update({k: Path(v) for k, _, v in (e.partition("=") for e in extra)})
    for name, path in files.items():
        option = Option(name, onnx_option(model_dir, card, path))
        option.file_mb = round(path.stat().st_size / 1e6, 1)
        options.append(option)
    return options


def time_once(model: Any, texts: Sequence[str], batch: int, args: argparse.Namespace) -> Timing:
    """One pass over ``texts`` in calls of ``batch`` (after a warm-up call)."""
    load = wait_for_quiet(args.max_load, args.max_wait_s)
    model.batch_size = batch
    model.predict_proba(texts[:batch])
    meter = ForeignLoad().start()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), batch):
        model.predict_proba(texts[i : i + batch])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.batch_size = 16
    return Timing(round(len(texts) / wall, 1), round(len(texts) / cpu, 1), load, meter.cores())


def time_all(
    models: dict[str, Any], options: list[Option], texts: list[str], args: argparse.Namespace
) -> None:
    """Every option at every batch size, in turn, ``args.repeats`` rounds."""
    for round_no in range(args.repeats):
        for option in options:
            for b in args.batches:
                timing = time_once(models[option.name], texts, b, args)
                option.timings.setdefault(b, []).append(timing)
                print(f"round {round_no} {option.name} b={b} {timing}", flush=True)


def evaluate_option(
    model: ProbModel, option: Option, scorer: RoutedScorer, data: tuple[list[str], list[int]]
) -> None:
    """TweetEval macro-recall, model alone and fused, with ``model`` on the English route."""
    texts, gold = data
    en = scorer.routes["en"]
    scorer.routes["en"] = dataclasses.replace(en, model=model)
    try:
        for method in ("model", "fused"):
            metrics = evaluate_texts(scorer, texts, gold, lang="en", method=method)
            option.accuracy[method] = round(metrics.macro_recall, 4)
        option.labels = model.predict_proba(texts).argmax(1)
    finally:
        scorer.routes["en"] = en


def pooled_rate(scorer: RoutedScorer, texts: list[str], args: argparse.Namespace) -> float | None:
    """Posts/s of the multilingual model the English route pools (None when not pooled)."""
    second = scorer.routes["en"].second
    if second is None or scorer.routes["en"].second_weight <= 0:
        return None
    wait_for_quiet(args.max_load, args.max_wait_s)
    second.predict_proba(texts[:64])
    started = time.perf_counter()
    for i in range(0, len(texts), 64):
        second.predict_proba(texts[i : i + 64])
    return round(len(texts) / (time.perf_counter() - started), 1)


def _speed_cells(option: Option, batches: Sequence[int]) -> list[str]:
    cells = []
    for b in batches:
        best = option.best(b)
        cells.append(
            f"{best.posts_per_s} / {option.best_cpu(b)} [{best.load:.2f}; {best.other_cores}]"
            if best
            else ""
        )
    return cells


def _accuracy_cells(option: Option, base: Option | None) -> list[str]:
    model, fused = option.accuracy.get("model"), option.accuracy.get("fused")
    if model is None or fused is None:
        return ["", "", ""]
    if base is None or "fused" not in base.accuracy:
        return [f"{model} / {fused}", "", ""]
    delta = (
        f"{(model - base.accuracy['model']) * 100:+.2f} / "
        f"{(fused - base.accuracy['fused']) * 100:+.2f}"
    )
    same = (option.labels == base.labels).mean() if base.labels is not None else None
    return [f"{model} / {fused}", delta, f"{same:.4f}" if same is not None else ""]


def markdown(options: list[Option], batches: Sequence[int], pooled: float | None) -> str:
    """The results as a Markdown table."""
    base = next((o for o in options if o.name == BASELINE), None)
    head = ["option", "precision", "file MB"]
    head += [f"b={b}: posts/s / per CPU s [load; other cores]" for b in batches]
    head += ["macro-recall model / fused", "Δ vs torch-fp32 (points)", "labels = fp32's"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for o in options:
        cells = [o.name, str(o.info.get("precision", "")), str(o.file_mb or "")]
        cells += _speed_cells(o, batches) + _accuracy_cells(o, base)
        lines.append("| " + " | ".join(cells) + " |")
    if pooled:
        lines.append(f"\nThe pooled multilingual model alone: {pooled} posts/s (calls of 64).")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=BUNDLED_EN)
    parser.add_argument("--onnx-dir", type=Path, help="where the exports are (default: model)")
    parser.add_argument("--onnx", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--only", help="comma-separated option names")
    parser.add_argument("--texts", type=int, default=1024, help="demo posts to time on")
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeats", type=int, default=3, help="rounds over every option")
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait-s", type=float, default=120)
    parser.add_argument("--tweeteval", type=Path, default=TWEETEVAL)
    parser.add_argument("--no-eval", action="store_true")
    parser.add_argument("--no-time", action="store_true", help="accuracy only")
    parser.add_argument("--json", type=Path, help="write every number here")
    return parser.parse_args(argv)


def evaluate_all(
    models: dict[str, Any], options: list[Option], settings: Settings, args: argparse.Namespace
) -> None:
    """TweetEval accuracy of every option (skipped without the data)."""
    labeled = args.tweeteval / "val_text.txt"
    if args.no_eval or not labeled.is_file():
        return
    data = read_labeled(labeled, args.tweeteval / "val_labels.txt", None)
    scorer = load_scorer(settings, model_dir=args.model_dir)
    for option in options:
        evaluate_option(models[option.name], option, scorer, data)
        print(option.name, option.accuracy, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> tuple[list[Option], float | None]:
    """Every option timed (interleaved) and evaluated; the pooled model's rate."""
    options = options_for(args.model_dir, args.onnx_dir or args.model_dir, args.onnx)
    if args.only:
        options = [o for o in options if o.name in args.only.split(",")]
    models = {o.name: o.build() for o in options}
    for option in options:
        option.info = models[option.name].describe()
    pooled = None
    if not args.no_time:
        texts, _ = model_inputs(take(args.texts), settings)
        time_all(models, options, texts, args)
        pooled = pooled_rate(load_scorer(settings, model_dir=args.model_dir), texts, args)
    evaluate_all(models, options, settings, args)
    return options, pooled


def payload(options: list[Option], pooled: float | None) -> dict[str, Any]:
    """Every number, for ``--json``."""
    return {
        "options": [
            {
                "name": o.name,
                "file_mb": o.file_mb,
                "timings": {
                    str(b): [dataclasses.asdict(t) for t in runs] for b, runs in o.timings.items()
                },
                "macro_recall": o.accuracy,
                "info": o.info,
            }
            for o in options
        ],
        "pooled_multi_posts_per_s": pooled,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = get_settings().model_copy(update={"torch_threads": 1})
    options, pooled = run(args, settings)
    print(markdown(options, args.batches, pooled))
    if args.json:
        args.json.write_text(json.dumps(payload(options, pooled), indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
