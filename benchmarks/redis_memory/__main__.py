"""Redis memory per post: what grows with traffic, against what is bounded by design.

    python -m benchmarks.redis_memory [--replays 3] [--model-dir DIR] [--quantize int8]

Starts a private embedded stack and one real ``opinion worker`` with the demo's watches,
replays the demo scenario ``--replays`` times (each shifted by a week: fresh ids, no
reposts across replays), waits until the worker has handled every message, then sizes every
key (``MEMORY USAGE``) by category. Bounded by design: the aggregate buckets, per-bucket
samples and terms, recent lists (bounded by retention and caps, not by posts), and the
dedup window's repost keys (bounded by rate x ``OPINION_DEDUP_WINDOW_S``; listed apart).
Everything else, divided by the posts, is what a post leaves behind for good.

Run it on two commits (``PYTHONPATH=<checkout>``) to compare them.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.throughput import e2e
from devkit.feed.generate import generate
from devkit.feed.replay import replay
from devkit.feed.scenario import load_scenario
from devkit.stack.worker_process import WorkerProcess
from pipeline.config import get_settings
from pipeline.redis_io import redis_client

DEMO_WATCHES = Path(__file__).resolve().parents[2] / "devkit" / "feed" / "watches.yaml"
CATEGORIES = [  # (name, pattern, bounded by design)
    ("aggregate buckets", r":b:\d+:", True),
    ("negative samples", r":samples:\d+$", True),
    ("explanation terms", r":terms:\d+$", True),
    ("recent posts", r":recent$", True),
    ("dedup window (repost keys)", r"^opinion:repost:", True),
    ("per-post done markers", r"^opinion:done:", False),
    ("per-scope seen markers", r":seen:", False),
    ("offset marks", r":offsets$", False),
    ("other", r"", False),
]


def category(key: str) -> tuple[str, bool]:
    for name, pattern, bounded in CATEGORIES:
        if re.search(pattern, key):
            return name, bounded
    return "other", False


def drain(worker: WorkerProcess, messages: int, timeout_s: float = 1800) -> None:
    """Wait until the worker has handled ``messages`` messages in all."""
    deadline = time.monotonic() + timeout_s
    last = -1.0
    while time.monotonic() < deadline:
        done = worker.processed()
        if done >= messages:
            return
        if done != last:
            print(f"  handled {done:,.0f} of {messages:,}", flush=True)
            last = done
        time.sleep(5)
    raise TimeoutError(f"worker handled {worker.processed():,.0f} of {messages:,}")


def sizes(settings) -> tuple[dict[str, list[int]], int]:  # type: ignore[no-untyped-def]
    """(category -> [keys, bytes]), used_memory."""
    client = redis_client(settings)
    try:
        table: dict[str, list[int]] = {}
        for key in set(client.scan_iter(count=2000)):  # SCAN may repeat a key
            name, _ = category(key.decode())
            row = table.setdefault(name, [0, 0])
            row[0] += 1
            row[1] += int(client.memory_usage(key, samples=0) or 0)
        return table, int(client.info("memory")["used_memory"])
    finally:
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replays", type=int, default=3)
    ap.add_argument("--scenario", default="demo-v1")
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--quantize", default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args()
    updates: dict[str, object] = {"watches_file": DEMO_WATCHES}
    if args.model_dir:
        updates["model_dir"] = args.model_dir.resolve()
    if args.quantize:
        updates["model_quantize"] = args.quantize
    base = get_settings().model_copy(update=updates)
    scenario = load_scenario(args.scenario)
    posts = 0
    sent = 0
    with e2e.embedded_stack(base) as (live, _pids):
        worker = WorkerProcess(live, "memory", env={"OMP_NUM_THREADS": "1"})
        try:
            worker.wait_ready()
            for k in range(args.replays):
                summary = replay(
                    generate(scenario, shift=timedelta(days=7 * k)), live, progress=False
                )
                sent += summary.acked
                posts += summary.feed.total - sum(summary.feed.invalid.values())
                print(f"replay {k + 1}: {summary.acked:,} messages", flush=True)
                drain(worker, sent)
            table, used = sizes(live)
        finally:
            worker.stop()
    report(table, used, posts)
    if args.json:
        args.json.write_text(json.dumps({"posts": posts, "used_memory": used, "table": table}))


def report(table: dict[str, list[int]], used: int, posts: int) -> None:
    bounded = {name: by_design for name, _, by_design in CATEGORIES}
    print(f"\n{posts:,} valid posts; used_memory {used / 1e6:.1f} MB")
    print(f"{'category':30} {'keys':>9} {'MB':>8} {'B/post':>8}")
    growing = 0
    for name, (count, size) in sorted(table.items(), key=lambda kv: -kv[1][1]):
        mark = "" if bounded[name] else "  <- grows with traffic"
        print(f"{name:30} {count:9,} {size / 1e6:8.2f} {size / posts:8.1f}{mark}")
        growing += 0 if bounded[name] else size
    window = table.get("dedup window (repost keys)", [0, 0])[1]
    print(f"\ngrows with traffic: {growing / posts:.1f} B/post")
    print(f"with the dedup window's keys: {(growing + window) / posts:.1f} B/post")


if __name__ == "__main__":
    main()
