"""Where a worker's CPU goes under a backlog: py-spy samples of one real ``opinion worker``.

    pip install py-spy   # once
    python benchmarks/profile_worker.py --messages 8000 [--model null] [--no-multilingual]
    python benchmarks/profile_worker.py --model-dir DIR --quantize int8

Starts a private embedded stack and one worker (as ``opinion bench`` does), produces a backlog,
records the worker with ``py-spy record --format raw`` (on-CPU samples of every thread) while
it drains, and prints the worker's CPU per post (process CPU time over the run / posts, from
psutil) and a stage table: each sample goes to the first stage in ``STAGES`` one of whose
needles occurs in its stack (function and file names), and a stage's CPU per post is its
share of the samples times the worker's CPU per post. ``--model null`` scores with the null
model (``pipeline.model.null``): the pipeline's own cost per post. The raw collapsed stacks
are kept with ``--keep`` (for flame graphs).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.throughput import corpus, e2e
from benchmarks.throughput.null import null_model_settings
from benchmarks.throughput.runner import BenchOptions, model_settings, warm_posts
from pipeline.config import Settings, get_settings

# Stage = the first entry whose needle occurs anywhere in the stack (outermost to innermost
# frames, "Class.function (file:line)"), so specific stages come before the ones around them:
# the model, encoder, lexicon and language inside scoring and ingest; JSON decoding inside
# parse_post (validate); serialising scored events before publishing them; aggregation, the
# repost guard and the commit before Redis in general.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("model forward (torch)", ("torch/nn/modules", "transformers/models")),
    ("model (null)", ("model/null.py",)),
    ("tokenise", ("_encode (", "encode_batch")),
    ("encoder (multilingual)", ("sentence_encoder.py", "encoder_head.py", "onnxruntime")),
    ("lexicon", ("model/lexicon.py", "vaderSentiment")),
    ("language", ("text/language.py", "lingua")),
    ("watches", ("watches/", "WatchCache")),
    ("clean and mask", ("text/clean.py", "text/pii.py", "text/phones.py", "text/context.py")),
    (
        "fetch and decode",
        (
            *("aiokafka/consumer", "aiokafka/record", "Fetcher", "getmany"),
            *("Schema.compile", "loads_value", "_loads", ";loads (", "JSONDecoder"),
        ),
    ),
    ("validate", ("parse_post", "check_output_safe", "model_validate")),
    ("score (routing, fusion, predictions)", ("model/scorer.py", "fusion.py", "preprocess.py")),
    ("scored events (build, serialise)", ("._finish (", "._scored (", "to_bytes")),
    ("Redis: aggregation", ("record_batch", "aggregation/")),
    ("Redis: repost guard", ("RepostGuard.classify",)),
    (
        "commit (progress, poison attempts, offsets)",
        ("record_progress", "worker/poison.py", ".commit (", "_commit"),
    ),
    ("publish (Kafka produce)", ("TopicSink.publish", "aiokafka/producer", "faust/topics")),
    ("Redis: other (client I/O)", ("redis/",)),
    ("metrics (/metrics, counters)", ("prometheus_client", "worker/metrics.py", "aiohttp")),
    ("detection", ("detection",)),
]
# Samples whose innermost frame is one of these wait in the kernel (py-spy counts a thread
# that was running when sampled, and an epoll or lock wait can look like that): not CPU.
IDLE_LEAVES = ("selectors.py", "threading.py")
OTHER = "Faust / asyncio / other"


def stage_of(stack: str) -> str:
    """The stage a collapsed stack counts for (``OTHER`` when no needle matches)."""
    for name, needles in STAGES:
        if any(needle in stack for needle in needles):
            return name
    return OTHER


def find_pyspy() -> str:
    """py-spy on PATH or next to this interpreter (a virtual environment's bin)."""
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    return found


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--messages", type=int, default=8000)
    ap.add_argument("--model", choices=("checkpoint", "null"), default="checkpoint")
    ap.add_argument(
        "--model-dir", type=Path, default=None, help="checkpoint (null: whose weights to keep)"
    )
    ap.add_argument("--quantize", default=None)
    ap.add_argument(
        "--no-multilingual", action="store_true", help="turn the multilingual route off"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the worker")
    ap.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=25, help="leaf functions to list")
    ap.add_argument("--keep", type=Path, default=None, help="copy the raw stacks here")
    return ap.parse_args()


@contextlib.contextmanager
def worker_settings(args: argparse.Namespace) -> Iterator[Settings]:
    """Settings with the model under test pinned (a temporary null model for ``null``)."""
    settings = get_settings()
    if args.no_multilingual:
        settings = settings.model_copy(update={"multilingual": False})
    if args.model == "null":
        with null_model_settings(settings, args.model_dir) as pinned:
            yield pinned
    else:
        yield model_settings(
            settings, BenchOptions(model_dir=args.model_dir, quantize=args.quantize)
        )


def record(
    settings: Settings, args: argparse.Namespace, keep: Path | None
) -> tuple[dict[str, Any], list[str]]:
    """Drain a backlog of ``args.messages`` posts through one worker under py-spy; the
    throughput run and the raw collapsed stacks."""
    posts = corpus.take(args.messages)
    with e2e.embedded_stack(settings) as (live, _pids):
        warm = warm_posts(settings.batch_max_size, 1)
        group = e2e.start_group(live, 1, args.threads, warm, lambda m: print(m, flush=True))
        raw = Path(live.state_dir) / "worker.stacks"
        try:
            e2e.reset_dedup(group.settings)
            spy = start_pyspy(group.workers[0].proc.pid, raw, args.rate)
            time.sleep(1.0)
            run = e2e.throughput(group, posts, {})
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            spy.wait(60)
        finally:
            group.stop()
        stacks = raw.read_text().splitlines() if raw.exists() else []
        if keep is not None and raw.exists():
            shutil.copy(raw, keep)
    return run, stacks


def start_pyspy(pid: int, out: Path, rate: int) -> subprocess.Popen[bytes]:
    """``py-spy record`` of every thread of ``pid`` in raw collapsed-stack format."""
    cmd = [find_pyspy(), "record", "--pid", str(pid), "--format", "raw", "--threads"]
    cmd += ["--rate", str(rate), "--output", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def is_idle(stack: str) -> bool:
    """Whether the stack's innermost frame waits in the kernel (``IDLE_LEAVES``)."""
    leaf = stack.rsplit(";", 1)[-1]
    return any(name in leaf for name in IDLE_LEAVES)


def tally(stacks: Sequence[str]) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Samples per stage and per leaf function, and the idle samples left out of both."""
    by_stage: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    idle = 0
    for line in stacks:
        stack, _, count = line.rpartition(" ")
        n = int(count)
        if is_idle(stack):
            idle += n
            continue
        by_stage[stage_of(stack)] += n
        leaves[stack.split(";")[-1]] += n
    return by_stage, leaves, idle


def stage_table(by_stage: collections.Counter[str], cpu_ms_per_post: float) -> list[str]:
    """Markdown rows: stage, share of samples, CPU ms per post (share x the worker's total)."""
    total = max(1, sum(by_stage.values()))
    rows = ["| stage | share | CPU ms/post |", "| --- | ---: | ---: |"]
    for name, n in by_stage.most_common():
        share = n / total
        rows.append(f"| {name} | {share:.1%} | {share * cpu_ms_per_post:.3f} |")
    rows.append(f"| **worker total** | 100% | **{cpu_ms_per_post:.3f}** |")
    return rows


def report(run: dict[str, Any], stacks: Sequence[str], top: int) -> None:
    by_stage, leaves, idle = tally(stacks)
    total = max(1, sum(by_stage.values()))
    cpu = run["cpu_ms_per_msg"]["worker0"]
    print(
        f"{run['msgs_per_s']} msgs/s end to end ({run['processed']} posts), worker CPU "
        f"{cpu} ms/post, {total} on-CPU samples ({idle} idle left out), other processes "
        f"{run['foreign_cores']} cores"
    )
    print("\n".join(stage_table(by_stage, cpu)))
    print("top leaf functions:")
    for name, n in leaves.most_common(top):
        print(f"{n / total:6.1%}  {name}")


def main() -> None:
    args = parse_args()
    find_pyspy()  # fail before starting anything
    with worker_settings(args) as settings:
        run, stacks = record(settings, args, args.keep)
    report(run, stacks, args.top)
    sys.exit(0 if run["complete"] else 1)


if __name__ == "__main__":
    main()
