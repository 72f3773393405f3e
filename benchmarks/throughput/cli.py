"""``opinion bench``: throughput and latency of the scoring path on this machine."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from benchmarks.throughput.runner import BenchOptions, Checkpoint


class BenchModel(StrEnum):
    """What the workers score with."""

    checkpoint = "checkpoint"
    null = "null"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def bench(
    messages: int = typer.Option(2000, "--messages", "-n", min=1, help="Posts per throughput run."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    model: BenchModel = typer.Option(
        BenchModel.checkpoint,
        "--model",
        help="checkpoint: the model of --model-dir. null: fixed probabilities at no cost, "
        "everything else real (the pipeline's ceiling); only end to end is measured (model-only, "
        "naive, stage costs and latency are skipped), the median of --repeats is reported, and "
        "the lexicon and pooling weights are those of --model-dir's model.",
    ),
    model_dir: Path | None = typer.Option(
        None, help="Checkpoint to measure (default: OPINION_MODEL_DIR / registry / bundled)."
    ),
    multilingual: bool | None = typer.Option(
        None,
        "--multilingual/--no-multilingual",
        help="Turn the multilingual route (encoder pooled into English scores, other "
        "languages) on or off (default: OPINION_MULTILINGUAL).",
    ),
    quantize: str | None = typer.Option(
        None, help="auto | none | int8 (default: OPINION_MODEL_QUANTIZE)."
    ),
    workers: str = typer.Option(
        "1x1,1x2,2x1",
        help="End-to-end configurations: WORKERSxTHREADS (torch threads per worker) or WORKERS "
        "(cores shared out), comma-separated.",
    ),
    repeats: int = typer.Option(
        1, min=1, help="End-to-end runs per configuration (best kept; median with --model null)."
    ),
    batch_sizes: str = typer.Option("", help="Model-only batch sizes (default: by device)."),
    latency_loads: str = typer.Option(
        "0.5,0.9", help="Latency at these fractions of the best end-to-end rate ('' = skip)."
    ),
    latency_seconds: float = typer.Option(15.0, min=0.5, help="Seconds per latency run."),
    naive_messages: int = typer.Option(
        1000, min=2, help="Messages for the naive baseline (the corpus sample, cycled)."
    ),
    declared_lang_only: bool = typer.Option(
        False,
        "--declared-lang-only",
        help="Only posts whose source declares their language (no language detection; "
        "for a host without the lingua detector).",
    ),
    label: str = typer.Option("", help="Name of this run in reports."),
    out: Path | None = typer.Option(None, help="Also write the JSON result to this file."),
) -> None:
    """Measure model-only, naive, end-to-end and latency numbers against a private stack.

    Starts its own embedded broker and Redis in a temporary directory (never the one of
    `opinion stack up`) and real `opinion worker` processes, and stops them at the end.
    With --model null, only end-to-end throughput (the pipeline's own ceiling).
    """
    from benchmarks.throughput.corpus import DECLARED_LANG_ENV, FEED_FILE_ENV
    from benchmarks.throughput.runner import BenchOptions
    from devkit.feed.corpora import CorpusMissing

    feed_file = os.environ.get(FEED_FILE_ENV)
    if feed_file and not Path(feed_file).is_file():
        _fail(
            f"{FEED_FILE_ENV}={feed_file}: no such file; write one with "
            "`python -m benchmarks.throughput.corpus FILE` where the corpus packages are installed"
        )
    if declared_lang_only:
        os.environ[DECLARED_LANG_ENV] = "1"
    options = BenchOptions(
        messages=messages,
        model_dir=model_dir,
        quantize=quantize,
        workers=tuple(w.strip() for w in workers.split(",") if w.strip()) or ("1",),
        repeats=repeats,
        batch_sizes=_ints(batch_sizes) or None,
        latency_loads=tuple(float(x) for x in latency_loads.split(",") if x.strip()),
        latency_seconds=latency_seconds,
        naive_messages=naive_messages,
        label=label,
    )
    write = _writer(out)
    try:
        result, summary = _run(model, options, multilingual, write)
    except CorpusMissing as exc:
        _fail(f"{exc} (or point {FEED_FILE_ENV} at a feed file written ahead)")
    write(result)
    typer.echo(json.dumps(result, indent=2) if as_json else summary)


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def _writer(out: Path | None) -> Checkpoint:
    """Writes a (partial) result to ``out``; does nothing without one."""

    def write(result: dict[str, Any]) -> None:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")

    return write


def _run(
    model: BenchModel,
    options: BenchOptions,
    multilingual: bool | None,
    checkpoint: Checkpoint,
) -> tuple[dict[str, Any], str]:
    """Run the bench for ``model``; the result and its terminal summary."""
    from benchmarks.throughput import report
    from pipeline.config import get_settings

    settings = get_settings()
    if multilingual is not None:
        settings = settings.model_copy(update={"multilingual": multilingual})
    if model is BenchModel.null:
        from benchmarks.throughput.null import run_null_bench

        result = run_null_bench(options, settings)
        return result, report.null_summary(result)
    from benchmarks.throughput.runner import run_bench

    result = run_bench(options, settings, checkpoint=checkpoint)
    return result, report.summary(result)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
