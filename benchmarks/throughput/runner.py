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
Checkpoint = Callable[[dict[str, Any]], None]  # receives the result so far after each phase


WARM_OFFSET = 20_000  # warm-up posts come from here on (never the measured ones)


def stderr_progress(message: str) -> None:
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


@dataclass(frozen=True)
class _Corpus:
    """The bench posts and the model inputs the model-only phases time."""

    posts: list[corpus.BenchPost]
    texts: list[str]
    tweet_texts: list[str]
    news_texts: list[str]


@dataclass(frozen=True)
class _ModelUnderTest:
    """The scorer, its English transformer, the pooled model (or None) and their card."""

    scorer: Any
    transformer: Any
    second: Any
    info: dict[str, Any]

    @property
    def cuda(self) -> bool:
        return bool(self.transformer.device.type == "cuda")


@dataclass(frozen=True)
class _EndToEndPlan:
    """What the end-to-end phases run: the posts, the options, the workers' batch size, the
    layouts (workers, threads) and the model-only rate per layout to compare with."""

    posts: list[corpus.BenchPost]
    options: BenchOptions
    batch: int
    layouts: list[tuple[int, int]]
    model_only_configs: dict[str, dict[str, Any]]
    progress: Progress


@dataclass(frozen=True)
class _Throughputs:
    """The end-to-end throughput phase: runs per layout, the fastest layout and its rate,
    and that layout's worker group when it was kept running for the latency phase."""

    runs: dict[str, dict[str, Any]]
    best: tuple[int, int] | None
    best_rate: float
    group: e2e.WorkerGroup | None


def _read_corpus(n: int, settings: Settings) -> _Corpus:
    """``n`` bench posts; model inputs of the first 512 (and of up to 128 news posts)."""
    posts = corpus.take(n)
    sample = posts[: min(n, 512)]
    texts, _ = corpus.model_inputs(sample, settings)
    news_texts, _ = corpus.model_inputs(corpus.news_posts(min(n, 128)), settings)
    tweet_texts = [t for t, p in zip(texts, sample, strict=True) if p.role == "social"]
    return _Corpus(posts, texts, tweet_texts, news_texts)


def _corpus_summary(bench: _Corpus, n: int) -> dict[str, Any]:
    """The result's ``corpus`` entry."""
    return {
        "source": f"demo feed {corpus.SCENARIO}, unique valid English posts",
        "declared_lang_only": corpus.declared_lang_only(),
        "messages": n,
        "news_share": round(sum(p.role == "news" for p in bench.posts) / max(1, n), 4),
        "mean_chars": round(sum(len(t) for t in bench.texts) / max(1, len(bench.texts)), 1),
    }


def _load_model(settings: Settings) -> _ModelUnderTest:
    """The scorer the workers would load, with its English transformer's description."""
    from pipeline.model import load_scorer
    from pipeline.model.transformer import TransformerClassifier

    scorer = load_scorer(settings)
    en_route = scorer.routes["en"]  # type: ignore[attr-defined]
    transformer = en_route.model
    assert isinstance(transformer, TransformerClassifier)
    info = transformer.describe()
    second = en_route.second if en_route.second_weight > 0 else None
    info["pooled_with"] = (
        {"version": second.card.version, "weight": en_route.second_weight} if second else None
    )
    return _ModelUnderTest(scorer, transformer, second, info)


def _device_label(info: dict[str, Any]) -> str:
    """``"cpu"``, or the device with its GPU's name."""
    return info["device"] if not info["gpu"] else f"{info['device']} ({info['gpu']})"


def _batch_sizes(options: BenchOptions, worker_batch: int, cuda: bool) -> tuple[int, ...]:
    """The sweep's batch sizes (always with the workers' own), ascending."""
    sizes = options.batch_sizes or ((1, 16, 64, 256, 512) if cuda else (1, 8, 16, 32, 64, 128))
    return tuple(sorted({*sizes, worker_batch}))


def _batch_size_sweep(
    model: _ModelUnderTest, texts: list[str], sizes: tuple[int, ...], threads: int
) -> dict[str, Any]:
    """Model-only messages/s per batch size with ``threads`` torch threads."""
    meter = ForeignLoad().start()
    per_batch = modelbench.with_threads(
        threads,
        partial(modelbench.model_only, second=model.second),
        model.transformer,
        texts,
        sizes,
    )
    return {
        "per_batch_size": per_batch,
        "per_batch_threads": threads,
        "per_batch_foreign_cores": meter.cores(),
        "per_batch_load": load_avg(),
    }


def _single_stream_rates(
    model: _ModelUnderTest,
    predict: Callable[[Sequence[str]], object],
    bench: _Corpus,
    bs: int,
    threads: int,
) -> dict[str, Any]:
    """Model-only rates at the workers' batch size: tweets, news, the whole scorer, and
    CPU milliseconds per message (``predict``: the English route's model calls)."""
    rate = modelbench.rate
    one = partial(modelbench.with_threads, threads)
    scorer = model.scorer
    return {
        "tweets_msgs_per_s": round(one(rate, predict, bench.tweet_texts, bs), 1),
        "news_msgs_per_s": (
            round(one(rate, predict, bench.news_texts, bs), 1) if bench.news_texts else None
        ),
        "scorer_msgs_per_s": round(
            one(rate, lambda t: scorer.predict(t, ["en"] * len(t)), bench.texts, bs), 1
        ),
        "cpu_ms_per_msg": round(one(modelbench.cpu_ms_per_msg, predict, bench.texts, bs), 3),
    }


def _model_only_phase(
    model: _ModelUnderTest,
    bench: _Corpus,
    options: BenchOptions,
    bs: int,
    configs_e2e: list[tuple[int, int]],
    progress: Progress,
) -> dict[str, Any]:
    """The result's ``model_only`` entry and the best layout's rate (and name)."""
    info = model.info
    sizes = _batch_sizes(options, bs, model.cuda)
    # On CPU the sweep runs single-threaded: the layout that uses a shared 2-core machine
    # best is one single-threaded worker per core, and one thread is not slowed down by
    # spinning OpenMP threads when another process takes a core.
    sweep_threads = info["torch_threads"] if model.cuda else 1
    predict = modelbench.pooled_predict(model.transformer, model.second)
    progress(
        f"model-only throughput of {info['version']} ({info['precision']}), batches {sizes}, "
        f"{sweep_threads} thread(s)"
    )
    mo = _batch_size_sweep(model, bench.texts, sizes, sweep_threads)
    mo["worker_batch_size"] = bs
    mo |= _single_stream_rates(model, predict, bench, bs, sweep_threads)
    layouts = [(1, info["torch_threads"])] if model.cuda else configs_e2e
    progress(f"model-only in the end-to-end layouts {[f'{k}x{t}' for k, t in layouts]}")
    configs = _model_only_layouts(
        model.transformer, bench.texts, bs, layouts, options.parallel_seconds, model.second
    )
    mo["configs"] = configs
    progress(
        "model-only msgs/s per batch size: "
        + ", ".join(f"{b}: {r}" for b, r in mo["per_batch_size"].items())
        + "; layouts: "
        + ", ".join(f"{k} {v['msgs_per_s']}" for k, v in configs.items())
    )
    best_config = max(configs, key=lambda k: configs[k]["msgs_per_s"])
    return {
        "model_only": mo,
        "model_only_msgs_per_s": configs[best_config]["msgs_per_s"],
        "model_only_config": best_config,
    }


def _naive_phase(
    model: _ModelUnderTest, texts: list[str], options: BenchOptions, progress: Progress
) -> dict[str, Any]:
    """The naive baseline: one message at a time, at torch's default threads and at one."""
    progress(f"naive baseline: one message at a time ({options.naive_messages})")
    naive_texts = [texts[i % len(texts)] for i in range(max(2, options.naive_messages))]
    # torch's default threads (what a simple demo runs) and one thread; the better one is
    # the baseline, so the ratio is never flattered by a thread setting that suits the
    # machine badly (``ratio_end_to_end_vs_naive_default_threads``: against the demo's).
    naive = {
        f"{threads} thread(s)": _measured(
            lambda t=threads: modelbench.with_threads(
                t, modelbench.naive, model.transformer, naive_texts, model.second
            )
        )
        for threads in dict.fromkeys((model.info["torch_threads"], 1))
    }
    progress("naive msgs/s: " + ", ".join(f"{k} {v['msgs_per_s']}" for k, v in naive.items()))
    return {"naive": naive, "naive_msgs_per_s": max(v["msgs_per_s"] for v in naive.values())}


def _layout_throughput(
    plan: _EndToEndPlan,
    group: e2e.WorkerGroup,
    layout: tuple[int, int],
    stack_pids: dict[str, int],
) -> dict[str, Any]:
    """The best of ``options.repeats`` end-to-end runs of one layout's worker group."""
    options, progress = plan.options, plan.progress
    k, threads = layout
    runs = []
    for r in range(max(1, options.repeats)):
        progress(f"{k}x{threads}: producing {options.messages} posts (run {r + 1})")
        e2e.reset_dedup(group.settings)
        run = e2e.throughput(group, plan.posts, stack_pids)
        run["load_end"] = load_avg()
        runs.append(run)
        progress(
            f"{k}x{threads}: {run['msgs_per_s']} msgs/s "
            f"(foreign load {run['foreign_cores']} cores, load {run['load_end']}; "
            f"produced in {run['produce_seconds']} s; model busy {run['model_busy_share']:.0%}; "
            f"CPU ms/msg {run['cpu_ms_per_msg']})"
        )
    top = max(runs, key=lambda x: x["msgs_per_s"])
    top = {**top, "workers": k, "torch_threads": threads}
    top["all_runs_msgs_per_s"] = [x["msgs_per_s"] for x in runs]
    same = plan.model_only_configs.get(f"{k}x{threads}")
    top["ratio_vs_model_same_layout"] = (
        _ratio(top["msgs_per_s"], same["msgs_per_s"], 3) if same else None
    )
    return top


def _throughput_phase(
    plan: _EndToEndPlan, live: Settings, stack_pids: dict[str, int]
) -> _Throughputs:
    """End-to-end throughput per layout; the fastest layout's group is left running when it
    is the last one measured (for the latency phase)."""
    runs: dict[str, dict[str, Any]] = {}
    best: tuple[int, int] | None = None
    best_rate = 0.0
    group: e2e.WorkerGroup | None = None
    for i, (k, threads) in enumerate(plan.layouts):
        group = _start_group(live, k, threads, plan.batch, plan.progress)
        top = _layout_throughput(plan, group, (k, threads), stack_pids)
        runs[f"{k}x{threads}"] = top
        if top["msgs_per_s"] > best_rate:
            best, best_rate = (k, threads), top["msgs_per_s"]
        if i < len(plan.layouts) - 1 or best != (k, threads):
            group.stop()
            group = None
    return _Throughputs(runs, best, best_rate, group)


def _latency_at(
    group: e2e.WorkerGroup,
    stack_pids: dict[str, int],
    config: str,
    target: float,
    count: int,
    offset: int,
) -> dict[str, Any]:
    """Latency of ``count`` fresh posts produced at ``target`` messages/s."""
    e2e.reset_dedup(group.settings)
    meter = ForeignLoad([*stack_pids.values(), *group.pids().values()]).start()
    lat = e2e.latency(group, corpus.take(count, offset), target)
    lat |= {"config": config, "foreign_cores": meter.cores()}
    lat["load_end"] = load_avg()
    return lat


def _latency_phase(
    group: e2e.WorkerGroup,
    stack_pids: dict[str, int],
    best: tuple[int, int],
    best_rate: float,
    options: BenchOptions,
    progress: Progress,
) -> dict[str, dict[str, Any]]:
    """Latency per load (a share of the fastest layout's throughput), on that layout."""
    latency: dict[str, dict[str, Any]] = {}
    offset = options.messages
    for load in options.latency_loads:
        target = best_rate * load
        count = max(20, int(target * options.latency_seconds))
        progress(f"latency at {load:.0%} of {best_rate} msgs/s ({count} posts)")
        config = f"{best[0]}x{best[1]}"
        lat = _latency_at(group, stack_pids, config, target, count, offset)
        latency[f"{load:g}"] = lat
        progress(f"latency at {load:.0%}: p50 {lat['p50_s']} s, p95 {lat['p95_s']} s")
        offset += count
    return latency


def _end_to_end_phase(
    plan: _EndToEndPlan, settings: Settings, save_runs: Callable[[dict[str, Any]], None]
) -> tuple[_Throughputs, dict[str, dict[str, Any]]]:
    """End-to-end throughput per layout (given to ``save_runs``), then latency per load on
    the fastest, on one embedded stack (every worker group stopped at the end)."""
    latency: dict[str, dict[str, Any]] = {}
    with e2e.embedded_stack(settings) as (live, stack_pids):
        done = _throughput_phase(plan, live, stack_pids)
        save_runs(done.runs)
        group = done.group
        if plan.options.latency_loads and done.best is not None:
            if group is None:
                k, threads = done.best
                group = _start_group(live, k, threads, plan.batch, plan.progress)
            latency = _latency_phase(
                group, stack_pids, done.best, done.best_rate, plan.options, plan.progress
            )
        if group is not None:
            group.stop()
    return done, latency


def _ratio(numerator: float, denominator: float, digits: int) -> float | None:
    """``numerator / denominator`` rounded, or None when the denominator is zero."""
    return round(numerator / denominator, digits) if denominator else None


def _headline(
    result: dict[str, Any],
    ends: _Throughputs,
    latency: dict[str, dict[str, Any]],
    options: BenchOptions,
    default_threads: int,
) -> dict[str, Any]:
    """The headline numbers: the best end-to-end rate, its ratios, latency p95."""
    best_rate, best = ends.best_rate, ends.best
    default_naive = result["naive"][f"{default_threads} thread(s)"]["msgs_per_s"]
    loads = options.latency_loads
    first = latency.get(f"{loads[0]:g}") if loads else None
    return {
        "end_to_end_msgs_per_s": best_rate,
        "end_to_end_config": f"{best[0]}x{best[1]}" if best else None,
        "ratio_end_to_end_vs_model": _ratio(best_rate, result["model_only_msgs_per_s"], 3),
        "ratio_end_to_end_vs_naive": _ratio(best_rate, result["naive_msgs_per_s"], 2),
        "ratio_end_to_end_vs_naive_default_threads": _ratio(best_rate, default_naive, 2),
        "latency_p95_s": first["p95_s"] if first else None,
    }


def _discard(_: dict[str, Any]) -> None:
    """A checkpoint that keeps nothing."""


def run_bench(
    options: BenchOptions,
    settings: Settings | None = None,
    progress: Progress = stderr_progress,
    checkpoint: Checkpoint | None = None,
) -> dict[str, Any]:
    """Measure everything; returns the result dict (``opinion bench --json`` prints it).
    ``checkpoint`` gets the result so far after each phase (so a run stopped at a time
    limit keeps what it measured)."""
    save = checkpoint or _discard
    started = time.monotonic()
    settings = model_settings(settings or get_settings(), options)
    result: dict[str, Any] = {"label": options.label, "options": _jsonable(asdict(options))}
    result["machine"] = machine()
    result["load_start"] = load_avg()
    progress(f"load average {result['load_start']}; reading the corpus")
    bench = _read_corpus(options.messages, settings)
    result["corpus"] = _corpus_summary(bench, options.messages)

    model = _load_model(settings)
    result["model"] = model.info
    result["device"] = _device_label(model.info)
    bs = settings.batch_max_size
    configs_e2e = list(dict.fromkeys(parse_config(c) for c in options.workers))
    result |= _model_only_phase(model, bench, options, bs, configs_e2e, progress)
    result |= _naive_phase(model, bench.texts, options, progress)
    result["stage_costs_us"] = modelbench.stage_costs(bench.posts[:1000], model.scorer, settings)
    save(result)

    plan = _EndToEndPlan(
        bench.posts, options, bs, configs_e2e, result["model_only"]["configs"], progress
    )
    ends, latency = _end_to_end_phase(
        plan, settings, lambda runs: save(result | {"end_to_end": runs})
    )
    result["end_to_end"] = ends.runs
    result["latency"] = latency
    save(result)
    result |= _headline(result, ends, latency, options, model.info["torch_threads"])
    result["load_end"] = load_avg()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def warm_posts(batch: int, k: int) -> list[corpus.BenchPost]:
    """Two batches per worker of posts that are never measured (from ``WARM_OFFSET`` on)."""
    return corpus.take(2 * batch * k, offset=WARM_OFFSET)


def _start_group(
    live: Settings, k: int, threads: int, batch: int, progress: Progress
) -> e2e.WorkerGroup:
    """A warm group of ``k`` workers."""
    return e2e.start_group(live, k, threads, warm_posts(batch, k), progress)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
