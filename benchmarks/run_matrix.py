"""Run ``opinion bench`` for each model option and write results + the BENCHMARKS.md table.

    python benchmarks/run_matrix.py [--only default-fp32,fast-int8] [--messages N]

Options: default model fp32 / int8 (``pipeline/model/bundled/en``) and the distilled student
fp32 / int8 (``pipeline/model/bundled/en-fast``). Each run starts its own embedded stack and
workers; results go to ``benchmarks/results/<option>.json``; ``benchmarks/report.py`` turns
them into the markdown table. Waits (up to ``--max-wait-s``) for the 1-minute load average to
drop below ``--max-load`` before each option, and records the load next to every number.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchmarks.throughput.report import summary
from benchmarks.throughput.runner import BenchOptions, run_bench
from pipeline.model import BUNDLED_DIR

RESULTS = Path(__file__).with_name("results")
# name: (checkpoint, quantisation, posts per throughput run: ~30 s of work each)
OPTIONS: dict[str, tuple[Path, str, int]] = {
    "default-fp32": (BUNDLED_DIR / "en", "none", 4000),
    "default-int8": (BUNDLED_DIR / "en", "int8", 8000),
    "fast-fp32": (BUNDLED_DIR / "en-fast", "none", 10000),
    "fast-int8": (BUNDLED_DIR / "en-fast", "int8", 16000),
}


def wait_for_quiet(max_load: float, max_wait_s: float) -> float:
    """Poll the 1-minute load average; returns it once below ``max_load`` (or on timeout)."""
    deadline = time.monotonic() + max_wait_s
    load = os.getloadavg()[0]
    while load > max_load and time.monotonic() < deadline:
        print(f"load {load:.2f} > {max_load}: waiting", flush=True)
        time.sleep(30)
        load = os.getloadavg()[0]
    return load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=0, help="0 = per option (~30 s each)")
    ap.add_argument("--only", default=",".join(OPTIONS))
    ap.add_argument("--workers", default="1x1,1x2,2x1")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--max-load", type=float, default=0.8)
    ap.add_argument("--max-wait-s", type=float, default=1800)
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in args.only.split(","):
        model_dir, quantize, messages = OPTIONS[name]
        wait_for_quiet(args.max_load, args.max_wait_s)
        result = run_bench(
            BenchOptions(
                messages=args.messages or messages,
                model_dir=model_dir,
                quantize=quantize,
                workers=tuple(args.workers.split(",")),
                repeats=args.repeats,
                latency_seconds=args.latency_seconds,
                label=name,
            )
        )
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(summary(result), flush=True)


if __name__ == "__main__":
    main()
