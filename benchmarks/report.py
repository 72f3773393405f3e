"""The markdown tables of ``benchmarks/results/*.json`` (the tables in BENCHMARKS.md).

    python benchmarks/report.py            # print them
    python benchmarks/report.py --write    # replace them in BENCHMARKS.md

The tables are rendered by ``benchmarks.throughput.report.table``; ``results/accuracy.json`` maps an
option name to TweetEval-validation macro-recall ``{"model": ..., "fused": ...}`` (from
``opinion eval``, see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.throughput.report import table

RESULTS = Path(__file__).with_name("results")
BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
ORDER = ["default-fp32", "default-int8", "fast-fp32", "fast-int8"]


def render(results_dir: Path = RESULTS, accuracy_file: Path | None = None) -> str:
    """The tables for every result file in ``results_dir``, known options first."""
    found = {p.stem: json.loads(p.read_text()) for p in results_dir.glob("*.json")}
    results = [found[k] for k in ORDER if k in found] + [
        v for k, v in sorted(found.items()) if k not in ORDER and "model_only" in v
    ]
    accuracy_file = accuracy_file or results_dir / "accuracy.json"
    accuracy = json.loads(accuracy_file.read_text()) if accuracy_file.is_file() else None
    return table(results, accuracy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--accuracy", type=Path, default=None)
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md in place")
    args = ap.parse_args()
    text = render(args.results, args.accuracy)
    if not args.write:
        print(text)
        return
    doc = BENCHMARKS_MD.read_text()
    head, rest = doc.split(START, 1)
    BENCHMARKS_MD.write_text(f"{head}{START}\n{text}\n{END}{rest.split(END, 1)[1]}")


if __name__ == "__main__":
    main()
