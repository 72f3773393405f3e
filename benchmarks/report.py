"""Markdown table of ``benchmarks/results/*.json`` (pasted into BENCHMARKS.md).

    python benchmarks/report.py [--accuracy benchmarks/results/accuracy.json]

``accuracy.json`` maps an option name to TweetEval-validation macro-recall
``{"model": ..., "fused": ...}`` (from ``opinion eval``, see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.bench.report import table

RESULTS = Path(__file__).with_name("results")
ORDER = ["default-fp32", "default-int8", "fast-fp32", "fast-int8"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--accuracy", type=Path, default=RESULTS / "accuracy.json")
    args = ap.parse_args()
    found = {p.stem: json.loads(p.read_text()) for p in args.results.glob("*.json")}
    results = [found[k] for k in ORDER if k in found] + [
        v for k, v in sorted(found.items()) if k not in ORDER and "model_only" in v
    ]
    accuracy = json.loads(args.accuracy.read_text()) if args.accuracy.is_file() else None
    print(table(results, accuracy))


if __name__ == "__main__":
    main()
