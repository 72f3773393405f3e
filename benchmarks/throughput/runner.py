"""One benchmark run: model-only, naive baseline, stage costs, end to end, latency.

Everything is measured in the same run with the same model options, so the ratios compare
like with like. ``run_bench`` returns a JSON-able dict (documented in BENCHMARKS.md). Each
number comes with ``foreign_cores``: the CPU that other processes on the machine used while
it was measured.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.throughput import corpus, e2e
from benchmarks.throughput import model as modelbench
from benchmarks.throughput.load import ForeignLoad
from pipeline.config import Settings, get_settings

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class BenchOptions:
    """What to measure; unset model options come from the settings (``OPINION_*``).

    ``workers``: end-to-end configurations as ``"<workers>x<torch threads each>"`` or plain
    ``"<workers>"`` (the cores shared out: ``"1"`` = one worker using every core).
    """

    messages: int = 2000
    model_dir: Path | None = None
    quantize: str | None = None
    workers: tuple[str, ...] = ("1x1", "1x2", "2x1")
    repeats: int = 1
    batch_sizes: tuple[int, ...] | None = None
    latency_loads: tuple[float, ...] = (0.5, 0.9)
    latency_seconds: float = 15.0
    # 200 took 0.3 s with the fast model and moved its baseline by +-20 % between runs
    naive_messages: int = 1000
    parallel_seconds: float = 10.0
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


def parse_config(spec: str) -> tuple[int, int]:
    """``"2x1"`` -> (2 workers, 1 thread each); ``"2"`` -> (2, cores // 2)."""
    workers, _, threads = spec.partition("x")
    k = int(workers)
    return k, int(threads) if threads else max(1, (os.cpu_count() or 1) // k)


def model_settings(settings: Settings, options: BenchOptions) -> Settings:
    """``settings`` with the model under test pinned (so workers load exactly it)."""
    from pipeline.model import resolve_model_dir

    update: dict[str, Any] = {"model_dir": resolve_model_dir(settings, options.model_dir).resolve()}
    if options.quantize is not None:
        update["model_quantize"] = options.quantize
    return settings.model_copy(update=update)


def _measured(fn: Callable[[], float], pids: Sequence[int] = ()) -> dict[str, Any]:
    meter = ForeignLoad(pids).start()
    value = fn()
    return {"msgs_per_s": round(value, 1), "foreign_cores": meter.cores(), "load": load_avg()}


def _model_only_layouts(
    transformer: Any,
    texts: list[str],
    bs: int,
    layouts: Sequence[tuple[int, int]],
    seconds: float,
    second: Any,
) -> dict[str, dict[str, Any]]:
    """Model-only messages/s at the worker's batch size in each process layout the
    end-to-end runs use: one process with ``t`` torch threads, or ``k`` processes at once.
    ``second``: the pooled multilingual model, or None."""
    rate, predict = modelbench.rate, modelbench.pooled_predict(transformer, second)
    out: dict[str, dict[str, Any]] = {}
    for k, threads in layouts:
        if k == 1:
            out[f"1x{threads}"] = _measured(
                lambda t=threads: modelbench.with_threads(t, rate, predict, texts, bs)
            )
        else:
            agg, foreign = modelbench.model_only_parallel(
                transformer, texts, bs, k, seconds, threads=threads, second=second
            )
            out[f"{k}x{threads}"] = {
                "msgs_per_s": round(agg, 1),
                "foreign_cores": foreign,
                "load": load_avg(),
            }
    return out


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
    sample = posts[: min(n, 512)]
    texts, _ = corpus.model_inputs(sample, settings)
    news_texts, _ = corpus.model_inputs(corpus.news_posts(min(n, 128)), settings)
    tweet_texts = [t for t, p in zip(texts, sample, strict=True) if p.role == "social"]
    result["corpus"] = {
        "source": f"demo feed {corpus.SCENARIO}, unique valid English posts",
        "messages": n,
        "news_share": round(sum(p.role == "news" for p in posts) / max(1, n), 4),
        "mean_chars": round(sum(len(t) for t in texts) / max(1, len(texts)), 1),
    }

    scorer = load_scorer(settings)
    en_route = scorer.routes["en"]  # type: ignore[attr-defined]
    transformer = en_route.model
    assert isinstance(transformer, TransformerClassifier)
    info = transformer.describe()
    second = en_route.second if en_route.second_weight > 0 else None
    info["pooled_with"] = (
        {"version": second.card.version, "weight": en_route.second_weight} if second else None
    )

    result["model"] = info
    result["device"] = info["device"] if not info["gpu"] else f"{info['device']} ({info['gpu']})"
    cuda = transformer.device.type == "cuda"
    bs = settings.batch_max_size
    sizes = options.batch_sizes or ((1, 16, 64, 256, 512) if cuda else (1, 8, 16, 32, 64, 128))
    sizes = tuple(sorted({*sizes, bs}))
    # On CPU the sweep runs single-threaded: the layout that uses a shared 2-core machine
    # best is one single-threaded worker per core, and one thread is not slowed down by
    # spinning OpenMP threads when another process takes a core.
    sweep_threads = info["torch_threads"] if cuda else 1
    configs_e2e = list(dict.fromkeys(parse_config(c) for c in options.workers))
    rate = modelbench.rate
    predict = modelbench.pooled_predict(transformer, second)

    progress(
        f"model-only throughput of {info['version']} ({info['precision']}), batches {sizes}, "
        f"{sweep_threads} thread(s)"
    )
    meter = ForeignLoad().start()
    per_batch = modelbench.with_threads(
        sweep_threads,
        partial(modelbench.model_only, second=second),
        transformer,
        texts,
        sizes,
    )
    mo: dict[str, Any] = {
        "per_batch_size": per_batch,
        "per_batch_threads": sweep_threads,
        "per_batch_foreign_cores": meter.cores(),
        "per_batch_load": load_avg(),
        "worker_batch_size": bs,
    }
    one = partial(modelbench.with_threads, sweep_threads)
    mo["tweets_msgs_per_s"] = round(one(rate, predict, tweet_texts, bs), 1)
    mo["news_msgs_per_s"] = round(one(rate, predict, news_texts, bs), 1) if news_texts else None
    mo["scorer_msgs_per_s"] = round(
        one(rate, lambda t: scorer.predict(t, ["en"] * len(t)), texts, bs), 1
    )
    mo["cpu_ms_per_msg"] = round(one(modelbench.cpu_ms_per_msg, predict, texts, bs), 3)
    layouts = [(1, info["torch_threads"])] if cuda else configs_e2e
    progress(f"model-only in the end-to-end layouts {[f'{k}x{t}' for k, t in layouts]}")
    configs = _model_only_layouts(transformer, texts, bs, layouts, options.parallel_seconds, second)
    mo["configs"] = configs
    best_config = max(configs, key=lambda k: configs[k]["msgs_per_s"])
    result["model_only"] = mo
    result["model_only_msgs_per_s"] = configs[best_config]["msgs_per_s"]
    result["model_only_config"] = best_config

    progress(f"naive baseline: one message at a time ({options.naive_messages})")
    naive_texts = [texts[i % len(texts)] for i in range(max(2, options.naive_messages))]
    # torch's default threads (what a simple demo runs) and one thread; the better one is
    # the baseline, so the ratio is never flattered by a thread setting that suits the
    # machine badly (``ratio_end_to_end_vs_naive_default_threads``: against the demo's).
    naive = {
        f"{threads} thread(s)": _measured(
            lambda t=threads: modelbench.with_threads(
                t, modelbench.naive, transformer, naive_texts, second
            )
        )
        for threads in dict.fromkeys((info["torch_threads"], 1))
    }
    result["naive"] = naive
    result["naive_msgs_per_s"] = max(v["msgs_per_s"] for v in naive.values())
    result["stage_costs_us"] = modelbench.stage_costs(posts[:1000], scorer, settings)

    result["end_to_end"] = {}
    result["latency"] = {}
    with e2e.embedded_stack(settings) as (live, stack_pids):
        best: tuple[int, int] | None = None
        best_rate = 0.0
        group: e2e.WorkerGroup | None = None
        for i, (k, threads) in enumerate(configs_e2e):
            group = _start_group(live, k, threads, bs, progress)
            runs = []
            for r in range(max(1, options.repeats)):
                progress(f"{k}x{threads}: producing {n} posts (run {r + 1})")
                e2e.reset_dedup(group.settings)
                run = e2e.throughput(group, posts, stack_pids)
                run["load_end"] = load_avg()
                runs.append(run)
                progress(
                    f"{k}x{threads}: {run['msgs_per_s']} msgs/s "
                    f"(foreign load {run['foreign_cores']} cores, load {run['load_end']})"
                )
            top = max(runs, key=lambda x: x["msgs_per_s"])
            top = {**top, "workers": k, "torch_threads": threads}
            top["all_runs_msgs_per_s"] = [x["msgs_per_s"] for x in runs]
            same = configs.get(f"{k}x{threads}")
            top["ratio_vs_model_same_layout"] = (
                round(top["msgs_per_s"] / same["msgs_per_s"], 3) if same else None
            )
            result["end_to_end"][f"{k}x{threads}"] = top
            if top["msgs_per_s"] > best_rate:
                best, best_rate = (k, threads), top["msgs_per_s"]
            if i < len(configs_e2e) - 1 or best != (k, threads):
                group.stop()
                group = None
        if options.latency_loads and best is not None:
            if group is None:
                group = _start_group(live, best[0], best[1], bs, progress)
            offset = n
            for load in options.latency_loads:
                target = best_rate * load
                count = max(20, int(target * options.latency_seconds))
                progress(f"latency at {load:.0%} of {best_rate} msgs/s ({count} posts)")
                e2e.reset_dedup(group.settings)
                meter = ForeignLoad([*stack_pids.values(), *group.pids().values()]).start()
                lat = e2e.latency(group, corpus.take(count, offset), target)
                lat |= {"config": f"{best[0]}x{best[1]}", "foreign_cores": meter.cores()}
                lat["load_end"] = load_avg()
                result["latency"][f"{load:g}"] = lat
                progress(f"latency at {load:.0%}: p50 {lat['p50_s']} s, p95 {lat['p95_s']} s")
                offset += count
        if group is not None:
            group.stop()

    model_rate = result["model_only_msgs_per_s"]
    result["end_to_end_msgs_per_s"] = best_rate
    result["end_to_end_config"] = f"{best[0]}x{best[1]}" if best else None
    result["ratio_end_to_end_vs_model"] = round(best_rate / model_rate, 3) if model_rate else None
    result["ratio_end_to_end_vs_naive"] = (
        round(best_rate / result["naive_msgs_per_s"], 2) if result["naive_msgs_per_s"] else None
    )
    default_naive = naive[f"{info['torch_threads']} thread(s)"]["msgs_per_s"]
    result["ratio_end_to_end_vs_naive_default_threads"] = (
        round(best_rate / default_naive, 2) if default_naive else None
    )
    loads = options.latency_loads
    first = result["latency"].get(f"{loads[0]:g}") if loads else None
    result["latency_p95_s"] = first["p95_s"] if first else None
    result["load_end"] = load_avg()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _start_group(
    live: Settings, k: int, threads: int, batch: int, progress: Progress
) -> e2e.WorkerGroup:
    phase = e2e.phase_settings(live, f"w{k}x{threads}").model_copy(
        update={"torch_threads": threads}
    )
    progress(f"starting {k} worker(s), {threads or 'default'} torch thread(s) each")
    group = e2e.WorkerGroup(phase, k, f"w{k}x{threads}")
    try:
        seconds = group.start(corpus.take(2 * batch * k, offset=20_000))
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
