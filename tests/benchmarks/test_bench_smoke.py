"""`opinion bench --json` runs end to end on a tiny workload (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYS = (
    "model_only_msgs_per_s",
    "end_to_end_msgs_per_s",
    "ratio_end_to_end_vs_model",
    "naive_msgs_per_s",
    "latency_p95_s",
)


def test_bench_json_has_positive_numbers() -> None:
    args = ["--messages", "64", "--workers", "1x1", "--batch-sizes", "8"]
    args += ["--latency-loads", "0.5", "--latency-seconds", "2", "--naive-messages", "4"]
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "bench", "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    for key in KEYS:
        assert result[key] > 0, key
    assert result["device"]
    assert result["end_to_end"]["1x1"]["complete"]
    assert result["latency"]["0.5"]["visible"] > 0
    assert all(v > 0 for v in result["model_only"]["per_batch_size"].values())
