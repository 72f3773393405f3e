"""Where a worker's CPU goes under a backlog: py-spy samples of one real ``opinion worker``.

    pip install py-spy   # once
    python benchmarks/profile_worker.py --messages 4000 [--model-dir DIR] [--quantize int8]

Starts a private embedded stack and one worker (as ``opinion bench`` does), produces a backlog,
records the worker with ``py-spy record --format raw`` (on-CPU samples of every thread) while
it drains, and prints the share of samples per hot-path stage and the top leaf functions.
The raw collapsed stacks are kept (``--keep``) for flame graphs.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.throughput import corpus, e2e
from benchmarks.throughput.runner import BenchOptions, model_settings
from pipeline.config import get_settings

# Stage = first frame (outermost to innermost) whose function/file matches.
STAGES = [
    ("model forward (torch)", ("torch/nn/modules", "transformers/models")),
    ("tokenise", ("_encode", "encode_batch")),
    ("VADER lexicon", ("lexicon.py", "vaderSentiment")),
    ("scorer (fusion, predictions)", ("scorer.py", "fusion.py")),
    ("ingest (parse, clean, mask, watches, lang)", ("ingest.py",)),
    ("scored events (build, serialise)", ("_scored", "_finish", "to_bytes", "model_dump_json")),
    ("Kafka produce (aiokafka)", ("aiokafka/producer", "faust/topics", "publish")),
    ("Redis (client + aggregation plans)", ("redis/", "aggregation/", "dedup.py", "watermark")),
    ("spike detection", ("detection",)),
    ("Kafka consume + Faust stream", ("aiokafka/consumer", "faust/", "mode/")),
    ("asyncio / other", ("",)),
]


def stage_of(stack: str) -> str:
    for name, needles in STAGES:
        if any(n in stack for n in needles):
            return name
    return "asyncio / other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--quantize", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the worker")
    ap.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    ap.add_argument("--keep", type=Path, default=None, help="copy the raw stacks here")
    args = ap.parse_args()
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    options = BenchOptions(model_dir=args.model_dir, quantize=args.quantize)
    settings = model_settings(get_settings(), options)
    posts = corpus.take(args.messages)
    with e2e.embedded_stack(settings) as (live, _pids):
        phase = e2e.phase_settings(live, "prof").model_copy(update={"torch_threads": args.threads})
        group = e2e.WorkerGroup(phase, 1, "prof")
        try:
            group.start(corpus.take(128, offset=20_000))
            e2e.reset_dedup(group.settings)
            raw = Path(live.state_dir) / "worker.stacks"
            pid = group.workers[0].proc.pid
            cmd = [pyspy, "record", "--pid", str(pid), "--format", "raw", "--threads"]
            cmd += ["--rate", str(args.rate), "--output", str(raw), "--nonblocking"]
            spy = subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
            run = e2e.throughput(group, posts, {})
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            spy.wait(60)
        finally:
            group.stop()
        stacks = raw.read_text().splitlines() if raw.exists() else []
        if args.keep is not None and raw.exists():
            shutil.copy(raw, args.keep)
    by_stage: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in stacks:
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        by_stage[stage_of(stack)] += n
        leaves[stack.split(";")[-1]] += n
    print(f"{run['msgs_per_s']} msgs/s end to end, {total} on-CPU samples")
    for name, n in by_stage.most_common():
        print(f"{n / max(1, total):6.1%}  {name}")
    print("top leaf functions:")
    for name, n in leaves.most_common(25):
        print(f"{n / max(1, total):6.1%}  {name}")
    sys.exit(0 if run["complete"] else 1)


if __name__ == "__main__":
    main()
