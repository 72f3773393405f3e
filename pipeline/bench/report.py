"""Human-readable summaries of bench results (the CLI's output and BENCHMARKS.md tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _f(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def summary(result: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    m = result["model"]
    lines = [
        f"model {m['version']} ({m['precision']}, {m['layers']} layers) on {result['device']}, "
        f"{result['machine']['cpu']} x{result['machine']['cores']}, "
        f"load {result['load_start']} -> {result['load_end']}",
        "model-only msgs/s per batch size: "
        + ", ".join(f"{b}: {_f(v)}" for b, v in result["model_only"]["per_batch_size"].items()),
        f"model-only at the worker's batch size: {_f(result['model_only_msgs_per_s'])} msgs/s "
        f"(tweets {_f(result['model_only']['tweets_msgs_per_s'])}, "
        f"news {_f(result['model_only']['news_msgs_per_s'])}; "
        f"with VADER fusion {_f(result['model_only']['scorer_msgs_per_s'])})",
        f"naive pipeline: {_f(result['naive_msgs_per_s'], 1)} msgs/s",
    ]
    mo = result["model_only"]
    lines.append(
        f"model-only CPU {mo['cpu_ms_per_msg']} ms/msg; one torch thread: "
        f"{_f(mo.get('one_thread_msgs_per_s'))} msgs/s"
    )
    for k, run in result["end_to_end"].items():
        cpu = ", ".join(f"{p} {v}" for p, v in run["cpu_ms_per_msg"].items())
        lines.append(
            f"end to end, {k} worker(s): {_f(run['msgs_per_s'])} msgs/s "
            f"({run['processed']}/{run['messages']} in {run['seconds']} s; "
            f"model busy {run['model_busy_share']:.0%}; CPU ms/msg: {cpu})"
        )
    lines.append(
        f"end to end / model-only = {result['ratio_end_to_end_vs_model']}, "
        f"end to end / naive = {result['ratio_end_to_end_vs_naive']}"
    )
    for load, lat in result["latency"].items():
        lines.append(
            f"latency at {float(load):.0%} ({lat['achieved_msgs_per_s']} msgs/s): "
            f"p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, p99 {lat['p99_s']} s"
        )
    lines.append(
        "stage costs (us/msg): "
        + ", ".join(f"{k[:-3]} {v}" for k, v in result["stage_costs_us"].items())
    )
    return "\n".join(lines)


def _pcts(x: dict[str, Any] | None) -> str:
    return f"{x['p50_s']:.2f} / {x['p95_s']:.2f} / {x['p99_s']:.2f}" if x else "-"


def table(
    results: Sequence[dict[str, Any]], accuracy: dict[str, dict[str, float]] | None = None
) -> str:
    """One markdown row per result (model option), as in BENCHMARKS.md."""
    sizes = sorted({int(b) for r in results for b in r["model_only"]["per_batch_size"]})
    head = (
        ["option", "load"]
        + [f"model b={b}" for b in sizes]
        + ["e2e 1w", "e2e 2w", "e2e/model", "naive", "e2e/naive"]
        + ["lat 50% p50/p95/p99 s", "lat 90% p50/p95/p99 s", "TweetEval MR model / fused"]
    )
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        e = r["end_to_end"]
        lat = r["latency"]

        acc = (accuracy or {}).get(r["label"])
        cells = (
            [r["label"] or r["model"]["version"], f"{r['load_start'][0]:.1f}"]
            + [_f(r["model_only"]["per_batch_size"].get(str(b))) for b in sizes]
            + [
                _f(e.get("1", {}).get("msgs_per_s")),
                _f(e.get("2", {}).get("msgs_per_s")),
                f"{r['ratio_end_to_end_vs_model']:.2f}",
                _f(r["naive_msgs_per_s"]),
                f"{r['ratio_end_to_end_vs_naive']:.1f}x",
                _pcts(lat.get("0.5")),
                _pcts(lat.get("0.9")),
                f"{acc['model']:.3f} / {acc['fused']:.3f}" if acc else "-",
            ]
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
