"""End to end through the real broker, worker processes and Redis: throughput and latency.

Everything runs against a private embedded stack (``embedded_stack``): ``opinion worker``
subprocesses with production settings (except the model options under test), posts from
``corpus`` produced with kafka-python, progress read from the workers' ``/metrics``.

*Throughput*: with the workers started and warm, ``n`` posts are produced as fast as possible;
the rate is ``n / (time the last one is counted - time the first was sent)``. A post is
counted when the worker's ``opinion_scored_total`` includes it, which happens after its batch
was published, aggregated in Redis and its partition's progress recorded.

*Latency*: posts are produced at a fixed rate; a post is *Redis-visible* when the workers'
progress for its partition (``opinion:watermarks``, written right after the chunk's counts,
rollups, terms and recent-posts entries) passes its offset. The bench receives each progress
update through a Redis keyspace notification (``notify-keyspace-events Kh``, on this private
server only) and reads the partitions' finished offsets; latency = the first such moment
past the post's offset - the time just before ``producer.send``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.throughput.corpus import BenchPost, render, watches_file
from benchmarks.throughput.load import ForeignLoad
from devkit.stack import stack_down, stack_up
from devkit.stack.worker_process import WorkerProcess
from pipeline.config import TOPIC_ROLES, Settings
from pipeline.kafka_io import ensure_topics, producer
from pipeline.keys import REPOST_PREFIX, WATERMARKS, input_field
from pipeline.redis_io import redis_client
from pipeline.worker.watermark import PartitionProgress


@contextlib.contextmanager
def embedded_stack(base: Settings) -> Iterator[tuple[Settings, dict[str, int]]]:
    """A private broker + Redis in a temporary state dir; yields settings and their PIDs."""
    state_dir = Path(tempfile.mkdtemp(prefix="opinion-bench-"))
    own = base.model_copy(
        update={"state_dir": state_dir, "kafka_bootstrap": None, "redis_url": None}
    )
    try:
        state = stack_up(own)
        live = own.model_copy(
            update={"kafka_bootstrap": state.kafka_bootstrap, "redis_url": state.redis_url}
        )
        yield live, {name: p.pid for name, p in state.processes.items()}
    finally:
        with contextlib.suppress(Exception):
            stack_down(own)
        shutil.rmtree(state_dir, ignore_errors=True)


def phase_settings(settings: Settings, name: str) -> Settings:
    """Own topics and consumer group for one measurement (created on the broker)."""
    suffix = f"{name}-{uuid.uuid4().hex[:6]}"
    phase = settings.model_copy(
        update={f"topic_{role}": f"bench-{suffix}.{role}" for role in TOPIC_ROLES}
        | {"app_id": f"bench-{suffix}"}
    )
    ensure_topics(phase)
    return phase


@dataclass
class Feeder:
    """Produces bench posts with fresh ids (``<prefix>-<n>``) and event time = send time."""

    settings: Settings
    prefix: str
    sent: int = 0
    sent_at: dict[str, float] = field(default_factory=dict)
    pending: dict[str, Any] = field(default_factory=dict)  # recorded posts' send futures

    def __post_init__(self) -> None:
        self.producer = producer(self.settings)

    def send(self, post: BenchPost, *, record: bool = False) -> None:
        post_id = f"{self.prefix}-{self.sent}"
        self.sent += 1
        now = time.time()
        future = self.producer.send(
            self.settings.topic(post.role), key=post_id.encode(), value=render(post, post_id, now)
        )
        if record:
            self.sent_at[post_id] = now
            self.pending[post_id] = future

    def positions(self) -> dict[str, tuple[str, int]]:
        """Recorded posts (after ``flush``): id -> (partition field, offset)."""
        out = {}
        for post_id, future in self.pending.items():
            meta = future.get(timeout=10)
            out[post_id] = (input_field(meta.topic, meta.partition), meta.offset)
        return out

    def flush(self) -> None:
        self.producer.flush(60)

    def close(self) -> None:
        self.producer.close(10)


def reset_dedup(settings: Settings) -> None:
    """Forget the repost guard's text fingerprints (phases reuse the corpus's texts)."""
    client = redis_client(settings)
    try:
        batch = list(client.scan_iter(match=f"{REPOST_PREFIX}*", count=5000))
        for i in range(0, len(batch), 5000):
            client.unlink(*batch[i : i + 5000])
    finally:
        client.close()


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User+system CPU seconds so far of each named process (0 when gone)."""
    out = {}
    for name, pid in pids.items():
        try:
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            out[name] = 0.0
    return out


class WorkerGroup:
    """``k`` workers on one phase's topics, started and warmed up together."""

    def __init__(self, settings: Settings, k: int, name: str) -> None:
        self.settings = settings
        self.workers = [
            WorkerProcess(settings, f"{name}-w{i}", watches_file=watches_file()) for i in range(k)
        ]

    def start(self, warm_posts: Sequence[BenchPost], timeout_s: float = 240) -> float:
        """Wait until every worker is up and has scored warm-up posts (so it holds
        partitions and its model is warm); returns the seconds that took."""
        started = time.monotonic()
        for w in self.workers:
            w.wait_ready(timeout_s)
        feeder = Feeder(self.settings, f"warm-{uuid.uuid4().hex[:6]}")
        deadline = time.monotonic() + timeout_s
        i = 0
        try:
            while True:
                for _ in range(len(warm_posts)):
                    feeder.send(warm_posts[i % len(warm_posts)])
                    i += 1
                feeder.flush()
                while time.monotonic() < deadline:
                    done = [w.processed() for w in self.workers]
                    if sum(done) >= feeder.sent:
                        break
                    time.sleep(0.3)
                if all(d > 0 for d in done):
                    return time.monotonic() - started
                if time.monotonic() > deadline:
                    raise TimeoutError("workers did not all take partitions in time")
                reset_dedup(self.settings)
        finally:
            feeder.close()

    def processed(self) -> float:
        return sum(w.processed() for w in self.workers)

    def model_busy_s(self) -> float:
        return sum(w.model_seconds() for w in self.workers)

    def pids(self) -> dict[str, int]:
        return {f"worker{i}": w.proc.pid for i, w in enumerate(self.workers)}

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


def start_group(
    live: Settings,
    k: int,
    threads: int,
    warm_posts: Sequence[BenchPost],
    progress: Callable[[str], None],
) -> WorkerGroup:
    """``k`` workers with ``threads`` torch threads each on fresh phase topics, started and
    warmed up on ``warm_posts`` (stopped again if that fails)."""
    phase = phase_settings(live, f"w{k}x{threads}").model_copy(update={"torch_threads": threads})
    progress(f"starting {k} worker(s), {threads or 'default'} torch thread(s) each")
    group = WorkerGroup(phase, k, f"w{k}x{threads}")
    try:
        seconds = group.start(warm_posts)
    except BaseException:
        group.stop()
        raise
    progress(f"{k} worker(s) ready and warm after {seconds:.0f} s")
    return group


def throughput(
    group: WorkerGroup, posts: Sequence[BenchPost], stack_pids: dict[str, int]
) -> dict[str, Any]:
    """Produce ``posts`` as fast as possible; messages/s until the last is counted."""
    feeder = Feeder(group.settings, f"tp-{uuid.uuid4().hex[:6]}")
    pids = {**stack_pids, **group.pids(), "bench": os.getpid()}
    base, busy0, cpu0 = group.processed(), group.model_busy_s(), cpu_seconds(pids)
    meter = ForeignLoad(pids.values()).start()
    n = len(posts)
    t0 = time.time()
    for post in posts:
        feeder.send(post)
    feeder.flush()
    produced_s = time.time() - t0
    deadline = time.monotonic() + 120 + n / 5
    done = 0.0
    while time.monotonic() < deadline:
        done = group.processed() - base
        if done >= n:
            break
        # Each poll costs the workers a /metrics request: poll rarely until the end is near.
        left_s = (n - done) / max(done / max(time.time() - t0, 1e-3), 1.0)
        time.sleep(min(0.5, max(0.05, left_s / 4)))
    elapsed = time.time() - t0
    feeder.close()
    cpu1 = cpu_seconds(pids)
    return {
        "messages": n,
        "processed": int(done),
        "seconds": round(elapsed, 2),
        "msgs_per_s": round(done / elapsed, 1),
        "produce_seconds": round(produced_s, 2),
        "model_busy_share": round((group.model_busy_s() - busy0) / elapsed / len(group.workers), 3),
        "cpu_ms_per_msg": {
            k: round((cpu1[k] - cpu0.get(k, 0.0)) / max(done, 1) * 1000, 3) for k in cpu1
        },
        "complete": done >= n,
        "foreign_cores": meter.cores(),
    }


class VisibilityListener:
    """Receives the keyspace events of ``opinion:watermarks`` (progress recorded after each
    committed chunk) and keeps, per update, when it came and each partition's next offset."""

    def __init__(self, settings: Settings) -> None:
        self.client = redis_client(settings)
        self.client.config_set("notify-keyspace-events", "Kh")
        db = int(self.client.connection_pool.connection_kwargs.get("db", 0) or 0)
        self.updates: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(f"__keyspace@{db}__:{WATERMARKS}")
        self._thread = threading.Thread(target=self._run, name="bench-visibility", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._pubsub.get_message(timeout=0.2) is None:
                continue
            at = time.time()
            raw = self.client.hgetall(WATERMARKS)
            finished = {k.decode(): PartitionProgress.parse(v).next_offset for k, v in raw.items()}
            self.updates.append((at, finished))

    def covers(self, positions: dict[str, tuple[str, int]]) -> bool:
        """Whether every post is visible: finished offsets only grow, so the latest update
        says it."""
        finished = self.updates[-1][1] if self.updates else {}
        return all(finished.get(part, 0) > offset for part, offset in positions.values())

    def visible_at(self, positions: dict[str, tuple[str, int]]) -> dict[str, float]:
        """When each post's partition first finished past its offset."""
        out: dict[str, float] = {}
        for post_id, (part, offset) in positions.items():
            for at, finished in self.updates:
                if finished.get(part, 0) > offset:
                    out[post_id] = at
                    break
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()
        with contextlib.suppress(Exception):
            self.client.config_set("notify-keyspace-events", "")
        self.client.close()


def latency(
    group: WorkerGroup, posts: Sequence[BenchPost], rate: float, tail_s: float = 30
) -> dict[str, Any]:
    """Produce ``posts`` at ``rate`` per second; produce-to-Redis-visible percentiles."""
    listener = VisibilityListener(group.settings)
    feeder = Feeder(group.settings, f"lat-{uuid.uuid4().hex[:6]}")
    try:
        t0 = time.time()
        for i, post in enumerate(posts):
            due = t0 + i / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            feeder.send(post, record=True)
        feeder.flush()
        send_s = time.time() - t0
        positions = feeder.positions()
        deadline = time.monotonic() + tail_s
        while time.monotonic() < deadline and not listener.covers(positions):
            time.sleep(0.2)
    finally:
        feeder.close()
        listener.close()
    seen = listener.visible_at(positions)
    lat = np.array([seen[k] - t for k, t in feeder.sent_at.items() if k in seen])
    pct = np.percentile(lat, [50, 95, 99]) if len(lat) else [float("nan")] * 3
    return {
        "target_msgs_per_s": round(rate, 1),
        "achieved_msgs_per_s": round(len(posts) / send_s, 1),
        "messages": len(posts),
        "visible": len(lat),
        "p50_s": round(float(pct[0]), 3),
        "p95_s": round(float(pct[1]), 3),
        "p99_s": round(float(pct[2]), 3),
        "max_s": round(float(lat.max()), 3) if len(lat) else None,
    }
