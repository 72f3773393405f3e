"""One benchmark run: model-only, naive baseline, stage costs, end to end, latency.

Everything is measured in the same run with the same model options, so the ratios compare
like with like. ``run_bench`` returns a JSON-able dict (documented in BENCHMARKS.md).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.bench import corpus, e2e
from pipeline.bench import model as modelbench
from pipeline.config import Settings, get_settings

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class BenchOptions:
    """What to measure; unset model options come from the settings (``OPINION_*``)."""

    messages: int = 2000
    model_dir: Path | None = None
    quantize: str | None = None
    threads: int | None = None
    workers: tuple[int, ...] = (1, 2)
    batch_sizes: tuple[int, ...] | None = None
    latency_loads: tuple[float, ...] = (0.5, 0.9)
    latency_seconds: float = 15.0
    naive_messages: int = 200
    label: str = ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
    }


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def model_settings(settings: Settings, options: BenchOptions) -> Settings:
    """``settings`` with the model under test pinned (so workers load exactly it)."""
    from pipeline.model import resolve_model_dir

    update: dict[str, Any] = {"model_dir": resolve_model_dir(settings, options.model_dir).resolve()}
    if options.quantize is not None:
        update["model_quantize"] = options.quantize
    if options.threads is not None:
        update["torch_threads"] = options.threads
    return settings.model_copy(update=update)


def run_bench(
    options: BenchOptions, settings: Settings | None = None, progress: Progress = _stderr
) -> dict[str, Any]:
    """Measure everything; returns the result dict (``opinion bench --json`` prints it)."""
    from pipeline.model import load_scorer
    from pipeline.model.transformer import TransformerClassifier

    started = time.monotonic()
    settings = model_settings(settings or get_settings(), options)
    result: dict[str, Any] = {"label": options.label, "options": _jsonable(asdict(options))}
    result["machine"] = machine()
    result["load_start"] = load_avg()
    progress(f"load average {result['load_start']}; reading the corpus")
    n = options.messages
    posts = corpus.take(n)
    sample = posts[: min(n, 2048)]
    texts, _ = corpus.model_inputs(sample, settings)
    news_texts, _ = corpus.model_inputs(corpus.news_posts(128), settings)
    tweet_texts = [t for t, p in zip(texts, sample, strict=True) if p.role == "social"]
    result["corpus"] = {
        "source": f"demo feed {corpus.SCENARIO}, unique valid English posts",
        "messages": n,
        "news_share": round(sum(p.role == "news" for p in posts) / max(1, n), 4),
        "mean_chars": round(sum(len(t) for t in texts) / max(1, len(texts)), 1),
    }

    scorer = load_scorer(settings)
    transformer = scorer.routes["en"].model  # type: ignore[attr-defined]
    assert isinstance(transformer, TransformerClassifier)
    info = transformer.describe()
    result["model"] = info
    result["device"] = info["device"] if not info["gpu"] else f"{info['device']} ({info['gpu']})"
    cuda = transformer.device.type == "cuda"
    worker_bs = settings.batch_max_size
    sizes = options.batch_sizes or ((1, 16, 64, 256, 512) if cuda else (1, 8, 16, 32, 64, 128))
    sizes = tuple(sorted({*sizes, worker_bs}))

    progress(f"model-only throughput of {info['version']} ({info['precision']}), batches {sizes}")
    per_batch = modelbench.model_only(transformer, texts, sizes)
    result["model_only"] = {
        "per_batch_size": per_batch,
        "worker_batch_size": worker_bs,
        "tweets_msgs_per_s": round(
            modelbench.rate(transformer.predict_proba, tweet_texts, worker_bs), 1
        ),
        "news_msgs_per_s": round(
            modelbench.rate(transformer.predict_proba, news_texts, worker_bs), 1
        )
        if news_texts
        else None,
        "scorer_msgs_per_s": round(
            modelbench.rate(lambda t: scorer.predict(t, ["en"] * len(t)), texts, worker_bs), 1
        ),
    }
    # The worker's configuration: calls of batch_max_size texts, forward passes of at most
    # the transformer's batch size (OPINION_MODEL_BATCH_SIZE).
    result["model_only_msgs_per_s"] = round(
        modelbench.rate(transformer.predict_proba, texts, worker_bs), 1
    )
    cpu = modelbench.cpu_ms_per_msg(transformer.predict_proba, texts, worker_bs)
    result["model_only"]["cpu_ms_per_msg"] = round(cpu, 3)
    if not cuda:
        result["model_only"]["one_thread_msgs_per_s"] = round(
            modelbench.with_threads(
                1, modelbench.rate, transformer.predict_proba, texts, worker_bs
            ),
            1,
        )

    progress(
        f"naive baseline: transformers pipeline, one message at a time ({options.naive_messages})"
    )
    result["naive_msgs_per_s"] = round(
        modelbench.naive(transformer, texts[: max(2, options.naive_messages)]), 1
    )
    result["stage_costs_us"] = modelbench.stage_costs(posts[:1000], scorer, settings)

    result["end_to_end"] = {}
    result["latency"] = {}
    with e2e.embedded_stack(settings) as (live, stack_pids):
        best_k, best_rate, group = 0, 0.0, None
        for k in options.workers:
            group = _start_group(live, k, settings, progress)
            progress(f"{k} worker(s): producing {n} posts")
            e2e.reset_dedup(group.settings)
            run = e2e.throughput(group, posts, stack_pids)
            run["torch_threads_per_worker"] = _threads(settings, k)
            run["load_end"] = load_avg()
            result["end_to_end"][str(k)] = run
            progress(f"{k} worker(s): {run['msgs_per_s']} msgs/s ({run['seconds']} s)")
            if run["msgs_per_s"] > best_rate:
                best_k, best_rate = k, run["msgs_per_s"]
            if k != options.workers[-1] or best_k != k:
                group.stop()
                group = None
        if options.latency_loads and best_rate > 0:
            if group is None:
                group = _start_group(live, best_k, settings, progress)
            offset = n
            for load in options.latency_loads:
                rate = best_rate * load
                count = max(20, int(rate * options.latency_seconds))
                progress(f"latency at {load:.0%} of {best_rate} msgs/s ({count} posts)")
                e2e.reset_dedup(group.settings)
                lat = e2e.latency(group, corpus.take(count, offset), rate)
                lat["workers"] = best_k
                lat["load_end"] = load_avg()
                result["latency"][f"{load:g}"] = lat
                offset += count
        if group is not None:
            group.stop()

    model_rate = result["model_only_msgs_per_s"]
    result["end_to_end_msgs_per_s"] = best_rate
    result["end_to_end_workers"] = best_k
    result["ratio_end_to_end_vs_model"] = round(best_rate / model_rate, 3) if model_rate else None
    result["ratio_end_to_end_vs_naive"] = (
        round(best_rate / result["naive_msgs_per_s"], 2) if result["naive_msgs_per_s"] else None
    )
    first = (
        result["latency"].get(f"{options.latency_loads[0]:g}") if options.latency_loads else None
    )
    result["latency_p95_s"] = first["p95_s"] if first else None
    result["load_end"] = load_avg()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _threads(settings: Settings, workers: int) -> int:
    """Torch threads per worker: the setting when given, else the cores shared out."""
    if settings.torch_threads:
        return settings.torch_threads
    return max(1, (os.cpu_count() or 1) // workers)


def _start_group(live: Settings, k: int, settings: Settings, progress: Progress) -> e2e.WorkerGroup:
    phase = e2e.phase_settings(live, f"w{k}").model_copy(
        update={"torch_threads": _threads(settings, k)}
    )
    progress(f"starting {k} worker(s) ({_threads(settings, k)} torch thread(s) each)")
    group = e2e.WorkerGroup(phase, k, f"w{k}")
    try:
        warm = corpus.take(2 * settings.batch_max_size * k, offset=20_000)
        seconds = group.start(warm)
    except BaseException:
        group.stop()
        raise
    progress(f"{k} worker(s) ready and warm after {seconds:.0f} s")
    return group


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
