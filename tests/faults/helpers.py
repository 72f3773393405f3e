"""Building blocks of the fault scenarios: a durable stack per scenario, a steady replay
in a thread that records what the broker acknowledged, real worker processes, and the
accounting (scored, dead-lettered, lost, double-counted) that ends up in the summary table.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devkit.stack import stack_down, stack_up
from pipeline.config import Settings
from pipeline.kafka_io import producer
from tests.harness import PHRASES, WorkerProcess, overall_volume, read_records, seed_watch

START = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
INVALID = [
    b'{"id": "broken", "source": ',
    b'["not", "an", "object"]',
    b'{"id": 7, "source": "social", "created_at": "2026-03-04T08:00:00Z", "text": "x"}',
    b'{"id": "u", "text": "\xff\xfe"}',
]
# One torch thread per worker: on 2 shared cores, OpenMP spinning with 2 threads made the
# model ~50x slower (measured: tiny model 175 vs 9,000 posts/s).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class Row:
    """One line of the fault summary table."""

    scenario: str
    messages_in: int
    scored: int | None
    dead_lettered: int | None
    lost: int | None  # None: not measured in this scenario
    double_counted: int | None
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        values = (self.messages_in, self.scored, self.dead_lettered, self.lost)
        return (self.scenario, *("-" if v is None else str(v) for v in values),
                "-" if self.double_counted is None else str(self.double_counted))  # fmt: skip


@dataclass(frozen=True)
class FeedItem:
    role: str
    key: bytes
    value: bytes
    valid_id: str | None  # None: invalid, must be dead-lettered


def feed(n: int, prefix: str, *, invalid_every: int = 20) -> list[FeedItem]:
    """``n`` messages with unique texts (no reposts), every ``invalid_every``-th invalid."""
    items = []
    for i in range(n):
        key = f"{prefix}-{i}".encode()
        if i % invalid_every == invalid_every - 1:
            items.append(FeedItem("social", key, INVALID[i % len(INVALID)], None))
            continue
        source = "news" if i % 7 == 0 else "social"
        body = {
            "id": f"{prefix}-{i}",
            "source": source,
            "created_at": (START + timedelta(seconds=i)).isoformat(),
            "text": f"Acme update {i}: {PHRASES[i % len(PHRASES)]} (ref {prefix}{i})",
            "author": f"@user{i % 300}",
            "lang": "en",
        }
        items.append(FeedItem(source, key, json.dumps(body).encode(), body["id"]))
    return items


def fault_settings(state_dir: Path, model_dir: Path, **overrides: object) -> Settings:
    """Settings for a scenario's own stack: short session timeout, the tiny model."""
    values: dict[str, object] = {
        "state_dir": state_dir,
        "kafka_bootstrap": None,
        "redis_url": None,
        "model_dir": model_dir,
        "kafka_session_timeout_s": 6.0,
        "detector_interval_s": 1.0,
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[arg-type]


@contextlib.contextmanager
def durable_stack(base: Settings) -> Iterator[Settings]:
    """Moto S3 + Tansu (s3 storage) + Valkey (AOF) for one scenario; stopped at the end."""
    state = stack_up(base, durable=True)
    try:
        live = base.model_copy(
            update={"kafka_bootstrap": state.kafka_bootstrap, "redis_url": state.redis_url}
        )
        seed_watch(live)
        yield live
    finally:
        stack_down(base)


def start_worker(settings: Settings, name: str, **overrides: object) -> WorkerProcess:
    """A real ``opinion worker`` subprocess (one torch thread), ready to consume."""
    worker = WorkerProcess(settings, name=name, env=WORKER_ENV, **overrides)
    worker.wait_ready(180)
    return worker


def assert_no_agent_crash(worker: WorkerProcess) -> None:
    """The worker's Faust agent never crashed (Faust logs ``Crashed reason=...``)."""
    log = worker.log_path.read_text(errors="replace")
    assert "Crashed reason" not in log, log[-4000:]


class SteadyReplay(threading.Thread):
    """Produces ``items`` at ``rate`` per second with the project's kafka-python producer
    (acks=all, idempotence off, retries) and records what the broker acknowledged: valid
    posts by id, invalid messages by key."""

    def __init__(self, settings: Settings, items: list[FeedItem], rate: float) -> None:
        super().__init__(name="steady-replay", daemon=True)
        self.settings, self.items, self.rate = settings, items, rate
        self.acked_valid: set[str] = set()
        self.acked_invalid: set[bytes] = set()
        self.failed = 0
        self.errors: list[str] = []
        self.sent = 0
        self.stop_event = threading.Event()
        self._lock = threading.Lock()

    def _ok(self, item: FeedItem) -> None:
        with self._lock:
            if item.valid_id is None:
                self.acked_invalid.add(item.key)
            else:
                self.acked_valid.add(item.valid_id)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(repr(exc))

    @property
    def acked(self) -> int:
        with self._lock:
            return len(self.acked_valid) + len(self.acked_invalid)

    def run(self) -> None:
        client = producer(self.settings)
        started = time.monotonic()
        try:
            for i, item in enumerate(self.items):
                if self.stop_event.is_set():
                    break
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                future = client.send(self.settings.topic(item.role), key=item.key, value=item.value)  # type: ignore[arg-type]
                future.add_callback(lambda _md, it=item: self._ok(it))
                future.add_errback(self._fail)
                self.sent += 1
        finally:
            client.flush(120)
            client.close(30)

    def wait_sent(self, count: int, timeout_s: float = 120) -> None:
        """Block until ``count`` messages were handed to the producer."""
        deadline = time.monotonic() + timeout_s
        while self.sent < count and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.1)


@dataclass
class Outcome:
    """What came out of the pipeline: scored post ids and dead-lettered message keys, each
    with how often it came out."""

    scored: Counter[str] = field(default_factory=Counter)
    dead: Counter[bytes] = field(default_factory=Counter)
    dead_reasons_ok: bool = True


def collect(
    settings: Settings, expect_valid: set[str], expect_dead: set[bytes], timeout_s: float = 240
) -> Outcome:
    """Read the scored and dead-letter topics until every expected message came out."""
    out = Outcome()

    def complete() -> bool:
        return expect_valid <= out.scored.keys() and expect_dead <= out.dead.keys()

    for role, data in read_records(settings, ("scored", "dead_letter"), done=complete,
                                   timeout_s=timeout_s):  # fmt: skip
        if role == "scored":
            out.scored[data["id"]] += 1
        else:
            out.dead[base64.b64decode(data["key_b64"] or "")] += 1
            out.dead_reasons_ok &= bool(data["error"]) and bool(data["stage"])
    return out


def account(
    scenario: str, settings: Settings, replay: SteadyReplay, n: int, note: str = ""
) -> tuple[Row, Outcome]:
    """Wait for the output, then compare it with what the broker acknowledged."""
    out = collect(settings, replay.acked_valid, replay.acked_invalid)
    time.sleep(2)  # the last batch's aggregation lands right after its publish
    scored = set(out.scored) & replay.acked_valid
    dead = set(out.dead) & replay.acked_invalid
    volume = overall_volume(
        settings, START - timedelta(hours=1), START + timedelta(seconds=n, hours=1)
    )
    extra = [
        f"{replay.failed} not acked",
        f"{out.scored.total() - len(out.scored)} scored events re-published (at-least-once)",
    ]
    if repeats := out.dead.total() - len(out.dead):  # a retried send already written
        extra.append(f"{repeats} dead letters repeated (invalid input written twice by retries)")
    row = Row(
        scenario,
        messages_in=replay.acked,
        scored=len(scored),
        dead_lettered=len(dead),
        lost=len(replay.acked_valid - scored) + len(replay.acked_invalid - dead),
        double_counted=volume - len(out.scored),
        note="; ".join([note, *extra] if note else extra),
    )
    return row, out
