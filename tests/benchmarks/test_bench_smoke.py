"""The bench wiring: `opinion bench --json` on a tiny workload (no timing assertions), the
report renders its result, and the CLI does not import the heavy libraries to show help."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.throughput.report import null_summary, summary, table

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"

KEYS = (
    "model_only_msgs_per_s",
    "end_to_end_msgs_per_s",
    "ratio_end_to_end_vs_model",
    "naive_msgs_per_s",
    "latency_p95_s",
)


@pytest.mark.integration
@pytest.mark.slow
def test_bench_json_has_positive_numbers_and_renders(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = ["--messages", "48", "--workers", "1x1", "--batch-sizes", "8", "--out", str(out)]
    args += ["--latency-loads", "0.5", "--latency-seconds", "1", "--naive-messages", "4"]
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "bench", "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == result  # the last checkpoint is the whole result
    for key in KEYS:
        assert result[key] > 0, key
    assert result["device"] == "cpu" or result["device"].startswith("cuda")
    assert result["end_to_end"]["1x1"]["complete"]
    assert result["latency"]["0.5"]["visible"] > 0
    assert set(result["model_only"]["per_batch_size"]) == {"8", "64"}
    assert all(v > 0 for v in result["model_only"]["per_batch_size"].values())
    assert all(v["msgs_per_s"] > 0 for v in result["naive"].values())

    text = summary(result)
    assert "end to end 1x1" in text and "latency at 50%" in text
    md = table([result], {result["model"]["version"]: {"model": 0.5, "fused": 0.6}})
    assert "| e2e 1x1 |" in md and "| 50% |" in md and "0.500 / 0.600" in md


@pytest.mark.integration
@pytest.mark.slow
def test_null_bench_counts_every_post_with_the_null_model() -> None:
    """``--model null``: real workers score with the null model; the median of the runs."""
    args = ["--model", "null", "--messages", "40", "--workers", "1x1", "--repeats", "3"]
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "bench", "--json", "--no-multilingual", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    run = result["end_to_end"]["1x1"]
    assert run["complete"] and len(run["all_runs_msgs_per_s"]) == 3
    assert sorted(run["all_runs_msgs_per_s"])[1] == run["median_msgs_per_s"] > 0
    assert result["end_to_end_msgs_per_s"] == run["median_msgs_per_s"]
    assert result["model"]["version"] == "null" and result["model"]["multilingual"] is False
    assert "model_only" not in result  # the model is not what is measured
    assert "median" in null_summary(result)


def test_cli_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, pipeline.cli as c; c._register_all(); "
        "print(sorted(m for m in ('torch', 'transformers', 'faust', 'pandas') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout


def test_committed_results_render_and_benchmarks_md_is_current() -> None:
    """BENCHMARKS.md's tables come from these files: they must match the report code."""
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks/report.py")
    assert spec is not None and spec.loader is not None
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    files = sorted(p for p in RESULTS.glob("*.json") if p.name != "accuracy.json")
    assert files
    for p in files:
        r = json.loads(p.read_text())
        assert all(key in r for key in KEYS) and r["device"], p
        summary(r)
    md = (ROOT / "BENCHMARKS.md").read_text()
    current = md.split(report.START, 1)[1].split(report.END, 1)[0].strip()
    assert current == report.render(), "run: python benchmarks/report.py --write"
