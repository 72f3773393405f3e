"""Human-readable summaries of bench results (the CLI's output and BENCHMARKS.md tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _f(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _fl(value: Any) -> str:
    return "?" if value is None else f"{value:.2f}"


def summary(result: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    m, mo = result["model"], result["model_only"]
    lines = [
        f"model {m['version']} ({m['precision']}, {m['layers']} layers) on {result['device']}, "
        f"{result['machine']['cpu']} x{result['machine']['cores']}, "
        f"load {result['load_start']} -> {result['load_end']}",
        "model-only msgs/s per batch size: "
        + ", ".join(f"{b}: {_f(v)}" for b, v in mo["per_batch_size"].items())
        + f" (other processes: {_fl(mo['per_batch_foreign_cores'])} cores)",
        f"model-only at the worker's batch size ({mo['worker_batch_size']}): "
        + ", ".join(
            f"{k} {_f(v['msgs_per_s'])} [{_fl(v['foreign_cores'])}]"
            for k, v in mo["configs"].items()
        )
        + f"; tweets {_f(mo['tweets_msgs_per_s'])}, news {_f(mo['news_msgs_per_s'])}, "
        f"with VADER fusion {_f(mo['scorer_msgs_per_s'])}; CPU {mo['cpu_ms_per_msg']} ms/msg",
        f"naive pipeline: {_f(result['naive_msgs_per_s'], 1)} msgs/s",
    ]
    for key, run in result["end_to_end"].items():
        cpu = ", ".join(f"{p} {v}" for p, v in run["cpu_ms_per_msg"].items())
        lines.append(
            f"end to end {key}: {_f(run['msgs_per_s'])} msgs/s (runs {run['all_runs_msgs_per_s']},"
            f" other processes {_fl(run['foreign_cores'])} cores; model busy "
            f"{run['model_busy_share']:.0%}; CPU ms/msg: {cpu})"
        )
    lines.append(
        f"best end to end ({result['end_to_end_config']}) / best model-only "
        f"({result['model_only_config']}) = {result['ratio_end_to_end_vs_model']}; "
        f"/ naive = {result['ratio_end_to_end_vs_naive']}"
    )
    for load, lat in result["latency"].items():
        lines.append(
            f"latency at {float(load):.0%} ({lat['achieved_msgs_per_s']} msgs/s, {lat['config']}):"
            f" p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, p99 {lat['p99_s']} s "
            f"[{_fl(lat['foreign_cores'])}]"
        )
    costs = ", ".join(f"{k[:-3]} {v}" for k, v in result["stage_costs_us"].items())
    lines.append(f"stage costs (us CPU/msg): {costs}")
    return "\n".join(lines)


def _fl_b(x: dict[str, Any]) -> str:
    return f"[{_fl(x['foreign_cores'])}]"


def _pcts(x: dict[str, Any] | None) -> str:
    return f"{x['p50_s']:.2f} / {x['p95_s']:.2f} / {x['p99_s']:.2f}" if x else "-"


def _e2e(result: dict[str, Any], key: str) -> str:
    run = result["end_to_end"].get(key)
    return f"{_f(run['msgs_per_s'])} [{_fl(run['foreign_cores'])}]" if run else "-"


def table(
    results: Sequence[dict[str, Any]], accuracy: dict[str, dict[str, float]] | None = None
) -> str:
    """One markdown row per result (model option), as in BENCHMARKS.md. Numbers in brackets:
    cores that other processes used while the number was measured."""
    sizes = sorted({int(b) for r in results for b in r["model_only"]["per_batch_size"]})
    e2e_keys = list(dict.fromkeys(k for r in results for k in r["end_to_end"]))
    head = (
        ["option"]
        + [f"model b={b}" for b in sizes]
        + ["model best (layout)"]
        + [f"e2e {k}" for k in e2e_keys]
        + ["e2e / model", "naive", "e2e / naive"]
        + ["latency 50% p50/p95/p99 s", "latency 90% p50/p95/p99 s"]
        + ["TweetEval macro-recall model / fused"]
    )
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        mo = r["model_only"]
        best = mo["configs"][r["model_only_config"]]
        acc = (accuracy or {}).get(r["label"])
        cells = (
            [r["label"] or r["model"]["version"]]
            + [_f(mo["per_batch_size"].get(str(b))) for b in sizes]
            + [f"{_f(best['msgs_per_s'])} ({r['model_only_config']}) {_fl_b(best)}"]
            + [_e2e(r, k) for k in e2e_keys]
            + [
                f"{r['ratio_end_to_end_vs_model']:.2f}",
                _f(r["naive_msgs_per_s"], 1),
                f"{r['ratio_end_to_end_vs_naive']:.1f}x",
                _pcts(r["latency"].get("0.5")),
                _pcts(r["latency"].get("0.9")),
                f"{acc['model']:.3f} / {acc['fused']:.3f}" if acc else "-",
            ]
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
