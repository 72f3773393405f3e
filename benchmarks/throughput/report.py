"""Human-readable bench results: the CLI's summary and the BENCHMARKS.md tables.

The one implementation of both; ``benchmarks/report.py`` only reads the result files.
Numbers in brackets are the 1-minute load average when the number was taken. The bench's own
broker, Redis and workers count in it (2-4 during end-to-end runs on 2 cores); what other
processes took is ``foreign_cores`` (``load.ForeignLoad``), shown per result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _f(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _load(x: dict[str, Any] | None) -> str:
    """``[load]`` of a measurement (1-minute load average when it ended)."""
    if not x:
        return ""
    load = x.get("load") or x.get("load_end")
    return f" [{load[0]:.1f}]" if load else ""


def _rate(x: dict[str, Any] | None) -> str:
    return f"{_f(x['msgs_per_s'])}{_load(x)}" if x else "-"


def _pcts(x: dict[str, Any] | None) -> str:
    if not x:
        return "-"
    return f"{x['p50_s']:.2f} / {x['p95_s']:.2f} / {x['p99_s']:.2f}{_load(x)}"


def _ratio(value: float | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{suffix}"


def summary(result: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    m, mo = result["model"], result["model_only"]
    lines = [
        f"model {m['version']} ({m['precision']}, {m['layers']} layers) on {result['device']}, "
        f"{result['machine']['cpu']} x{result['machine']['cores']}, "
        f"load {result['load_start']} -> {result['load_end']}",
        f"model-only msgs/s per batch size ({mo['per_batch_threads']} thread(s)): "
        + ", ".join(f"{b}: {_f(v)}" for b, v in mo["per_batch_size"].items())
        + f" [load {mo['per_batch_load'][0]}, other processes {mo['per_batch_foreign_cores']}"
        " cores]",
        f"model-only at the worker's batch size ({mo['worker_batch_size']}): "
        + ", ".join(f"{k} {_rate(v)}" for k, v in mo["configs"].items())
        + f"; tweets {_f(mo['tweets_msgs_per_s'])}, news {_f(mo['news_msgs_per_s'])}, "
        f"with VADER fusion {_f(mo['scorer_msgs_per_s'])}; CPU {mo['cpu_ms_per_msg']} ms/msg",
        "naive pipeline msgs/s: "
        + ", ".join(f"{k} {_rate(v)}" for k, v in result["naive"].items()),
    ]
    for key, run in result["end_to_end"].items():
        cpu = ", ".join(f"{p} {v}" for p, v in run["cpu_ms_per_msg"].items())
        lines.append(
            f"end to end {key}: {_rate(run)} msgs/s (runs {run['all_runs_msgs_per_s']}, "
            f"/ model-only {key} = {_ratio(run['ratio_vs_model_same_layout'])}, other processes "
            f"{run['foreign_cores']} cores; model busy {run['model_busy_share']:.0%}; "
            f"CPU ms/msg: {cpu})"
        )
    lines.append(
        f"best end to end ({result['end_to_end_config']}) / best model-only "
        f"({result['model_only_config']}) = {result['ratio_end_to_end_vs_model']}; "
        f"/ naive = {result['ratio_end_to_end_vs_naive']}"
    )
    for load, lat in result["latency"].items():
        lines.append(
            f"latency at {float(load):.0%} ({lat['achieved_msgs_per_s']} msgs/s, {lat['config']}):"
            f" p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, p99 {lat['p99_s']} s{_load(lat)}"
        )
    costs = ", ".join(f"{k[:-3]} {v}" for k, v in result["stage_costs_us"].items())
    lines.append(f"stage costs (us CPU/msg): {costs}")
    return "\n".join(lines)


def _foreign(r: dict[str, Any]) -> float | None:
    """The most CPU that other processes on the machine took during any throughput number
    (``ForeignLoad``; ~0 = a clean measurement)."""
    runs = [*r["model_only"]["configs"].values(), *r["end_to_end"].values(), *r["naive"].values()]
    values = [x["foreign_cores"] for x in runs if x.get("foreign_cores") is not None]
    return max(values) if values else None


def _name(r: dict[str, Any]) -> str:
    return str(r["label"] or r["model"]["version"])


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(
    results: Sequence[dict[str, Any]], accuracy: dict[str, dict[str, float]] | None = None
) -> str:
    """The BENCHMARKS.md tables, one row per result (model option): model-only per batch
    size; model-only and end to end per process layout, with the ratios; latency per load,
    with TweetEval-validation macro-recall (``accuracy``: option name ->
    ``{"model": ..., "fused": ...}``, model alone / fused with the lexicon)."""
    sizes = sorted({int(b) for r in results for b in r["model_only"]["per_batch_size"]})
    head = ["option", "precision", "threads"] + [f"b={b}" for b in sizes] + ["load"]
    rows = [_row(head), _row(["---"] * len(head))]
    for r in results:
        mo = r["model_only"]
        rows.append(
            _row(
                [_name(r), r["model"]["precision"], str(mo["per_batch_threads"])]
                + [_f(mo["per_batch_size"].get(str(b))) for b in sizes]
                + [f"{mo['per_batch_load'][0]:.1f}"]
            )
        )
    layouts = list(dict.fromkeys(k for r in results for k in r["end_to_end"]))
    head = (
        ["option"]
        + [f"model-only {k}" for k in layouts]
        + [f"e2e {k}" for k in layouts]
        + ["best e2e / best model-only", "naive (threads: msgs/s)", "best e2e / best naive"]
        + ["other processes (cores, max)"]
    )
    rows += ["", _row(head), _row(["---"] * len(head))]
    for r in results:
        naive = ", ".join(f"{k.split()[0]}: {_rate(v)}" for k, v in r["naive"].items())
        rows.append(
            _row(
                [_name(r)]
                + [_rate(r["model_only"]["configs"].get(k)) for k in layouts]
                + [_rate(r["end_to_end"].get(k)) for k in layouts]
                + [
                    _ratio(r["ratio_end_to_end_vs_model"]),
                    naive,
                    _ratio(r["ratio_end_to_end_vs_naive"], "x"),
                    _ratio(_foreign(r)),
                ]
            )
        )
    head = ["option", "layout", "load", "msgs/s", "p50 / p95 / p99 s", "TweetEval macro-recall"]
    rows += ["", _row(head), _row(["---"] * len(head))]
    for r in results:
        acc = (accuracy or {}).get(_name(r))
        for i, (load, lat) in enumerate(r["latency"].items()):
            rows.append(
                _row(
                    [
                        _name(r) if i == 0 else "",
                        lat["config"],
                        f"{float(load):.0%}",
                        _f(lat["achieved_msgs_per_s"]),
                        _pcts(lat),
                        f"{acc['model']:.3f} / {acc['fused']:.3f}" if acc and i == 0 else "",
                    ]
                )
            )
    return "\n".join(rows)


def null_summary(result: dict[str, Any]) -> str:
    """A few lines for the terminal: ``opinion bench --model null`` (the pipeline's ceiling)."""
    m = result["model"]
    pooled = f"pooled at {m['multi_pool_weight']}" if m["multilingual"] else "off"
    lines = [
        f"null model (lexicon weight {m['fusion_weight']}, multilingual encoder {pooled}), "
        f"{result['machine']['cpu']} x{result['machine']['cores']}, "
        f"load {result['load_start']} -> {result['load_end']}"
    ]
    for key, run in result["end_to_end"].items():
        cpu = ", ".join(f"{p} {v}" for p, v in run["cpu_ms_per_msg"].items())
        lines.append(
            f"end to end {key}: median {_f(run['median_msgs_per_s'])} msgs/s (runs "
            f"{run['all_runs_msgs_per_s']}, load at start {run['all_runs_load_start']}, "
            f"worker CPU ms/post {run['all_runs_worker_cpu_ms_per_msg']}, other processes "
            f"{run['foreign_cores']} cores; median run's CPU ms/msg: {cpu})"
        )
    return "\n".join(lines)
