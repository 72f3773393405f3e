"""``opinion bench --model null``: the pipeline's own ceiling (issue 20).

The workers load the null model (``pipeline.model.null``: fixed probabilities at no cost)
from a temporary directory passed as ``OPINION_MODEL_DIR``; everything else is real: the
embedded broker and Redis, ingest (decode, validate, clean, mask, language, watches), the
repost guard, lexicon fusion, the multilingual encoder's pooled opinion (unless the settings
turn the multilingual route off), publishing, aggregation and the commit protocol. The null
model keeps the lexicon and pooling weights of the model it stands in for (``--model-dir``,
else the default one), so the run costs what that model costs outside the transformer.

Only end-to-end throughput is measured: model-only, naive, stage-cost and latency phases
measure the model or need its rate, so they are skipped. Each configuration runs
``repeats`` times on the same warm workers; the headline is the median run.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.throughput import corpus, e2e
from benchmarks.throughput.corpus import BenchPost
from benchmarks.throughput.runner import (
    BenchOptions,
    Progress,
    load_avg,
    machine,
    parse_config,
    stderr_progress,
    warm_posts,
)
from pipeline.config import Settings, get_settings
from pipeline.model.card import ModelCard
from pipeline.model.loader import DEFAULT_FUSION_WEIGHT
from pipeline.model.null import write_null_model
from pipeline.model.sentence_encoder import encoder_path


@contextlib.contextmanager
def null_model_settings(settings: Settings, like_dir: Path | None = None) -> Iterator[Settings]:
    """``settings`` pinned to a null model in a temporary directory (removed afterwards),
    with the lexicon and pooling weights of ``like_dir`` (default: the resolved model)."""
    from pipeline.model import resolve_model_dir

    like = ModelCard.load(resolve_model_dir(settings, like_dir))
    with tempfile.TemporaryDirectory(prefix="opinion-null-model-") as tmp:
        null_dir = write_null_model(Path(tmp) / "null", like)
        yield settings.model_copy(update={"model_dir": null_dir})


def describe_null(settings: Settings) -> dict[str, Any]:
    """The null model's weights as the workers will apply them (settings override the card),
    and whether the multilingual route (the encoder) is on."""
    card = ModelCard.load(Path(settings.model_dir or "."))
    assert card is not None, "null_model_settings writes the card"
    multilingual = settings.multilingual and encoder_path(settings.encoder_dir).is_file()
    fusion = settings.fusion_weight
    if fusion is None:
        fusion = DEFAULT_FUSION_WEIGHT if card.fusion_weight is None else card.fusion_weight
    pool = settings.en_pool_weight
    return {
        "version": card.version,
        "fusion_weight": fusion,
        "multi_pool_weight": (card.multi_pool_weight if pool is None else pool)
        if multilingual
        else None,
        "multilingual": multilingual,
    }


def measure_runs(
    group: e2e.WorkerGroup,
    posts: Sequence[BenchPost],
    stack_pids: dict[str, int],
    repeats: int,
    progress: Progress,
) -> list[dict[str, Any]]:
    """``repeats`` throughput runs on warm workers, each with its load average at start/end."""
    runs = []
    for r in range(repeats):
        progress(f"producing {len(posts)} posts (run {r + 1} of {repeats})")
        e2e.reset_dedup(group.settings)
        load_start = load_avg()
        run = e2e.throughput(group, posts, stack_pids)
        run |= {"load_start": load_start, "load_end": load_avg()}
        progress(
            f"{run['msgs_per_s']} msgs/s, worker CPU {run['cpu_ms_per_msg'].get('worker0')} "
            f"ms/post (load {load_start[0]} -> {run['load_end'][0]})"
        )
        runs.append(run)
    return runs


def median_of(runs: Sequence[dict[str, Any]], k: int, threads: int) -> dict[str, Any]:
    """The median run's numbers (the lower middle one for an even count), with every run's
    rate, load and worker CPU kept for the record."""
    ordered = sorted(runs, key=lambda run: run["msgs_per_s"])
    middle = ordered[(len(ordered) - 1) // 2]
    return {
        **middle,
        "workers": k,
        "torch_threads": threads,
        "median_msgs_per_s": statistics.median(run["msgs_per_s"] for run in runs),
        "all_runs_msgs_per_s": [run["msgs_per_s"] for run in runs],
        "all_runs_load_start": [run["load_start"][0] for run in runs],
        "all_runs_worker_cpu_ms_per_msg": [run["cpu_ms_per_msg"].get("worker0") for run in runs],
        "complete": all(run["complete"] for run in runs),
    }


def run_null_bench(
    options: BenchOptions, settings: Settings | None = None, progress: Progress = stderr_progress
) -> dict[str, Any]:
    """End-to-end throughput with the null model, per configuration of ``options.workers``."""
    started = time.monotonic()
    base = settings or get_settings()
    result: dict[str, Any] = {
        "label": options.label or "null",
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "machine": machine(),
        "load_start": load_avg(),
        "end_to_end": {},
    }
    posts = corpus.take(options.messages)
    batch = base.batch_max_size
    with null_model_settings(base, options.model_dir) as pinned:
        result["model"] = describe_null(pinned)
        with e2e.embedded_stack(pinned) as (live, stack_pids):
            for spec in dict.fromkeys(options.workers):
                k, threads = parse_config(spec)
                group = e2e.start_group(live, k, threads, warm_posts(batch, k), progress)
                try:
                    runs = measure_runs(group, posts, stack_pids, options.repeats, progress)
                finally:
                    group.stop()
                result["end_to_end"][f"{k}x{threads}"] = median_of(runs, k, threads)
    best = max(result["end_to_end"].values(), key=lambda run: run["median_msgs_per_s"])
    result["end_to_end_msgs_per_s"] = best["median_msgs_per_s"]
    result["end_to_end_config"] = f"{best['workers']}x{best['torch_threads']}"
    result["load_end"] = load_avg()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result
