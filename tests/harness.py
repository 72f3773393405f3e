"""Helpers for integration tests that run real worker processes against the embedded stack."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from devkit.stack.worker_process import WorkerProcess as BaseWorkerProcess
from pipeline.aggregation.store import AggregateStore
from pipeline.config import Settings
from pipeline.kafka_io import consumer, producer
from pipeline.redis_io import redis_client
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore

ROOT = Path(__file__).resolve().parents[1]
# Texts for generated posts (made unique by the tests with an id or counter).
PHRASES = [
    "the service was terrible and nobody answered",
    "really happy with how fast they fixed it",
    "the announcement is scheduled for next week",
    "worst experience ever, never again",
    "great work by the team today",
    "prices stay the same this quarter",
]


class WorkerProcess(BaseWorkerProcess):
    """``devkit.stack.worker_process.WorkerProcess`` run from the repository root."""

    def __init__(self, settings: Settings, name: str = "worker", **kwargs: Any) -> None:
        super().__init__(settings, name, cwd=ROOT, **kwargs)


def produce(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    """Send (topic role, key, value) triples; returns how many were acknowledged."""
    client = producer(settings)
    futures = [
        client.send(settings.topic(role), value=value, key=key)  # type: ignore[arg-type]
        for role, key, value in messages
    ]
    client.flush(60)
    client.close()
    return sum(f.succeeded() for f in futures)


def read_records(
    settings: Settings,
    roles: Iterable[str],
    *,
    done: Callable[[], bool],
    timeout_s: float = 180,
    **consumer_options: Any,
) -> Iterator[tuple[str, dict]]:
    """(role, decoded message) from the start of the roles' topics (own group), until
    ``done()`` (checked after each poll) or the timeout."""
    by_topic = {settings.topic(role): role for role in roles}  # type: ignore[arg-type]
    group = consumer(settings, *by_topic, group_id=None, **consumer_options)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not done():
            for tp, records in group.poll(timeout_ms=500, max_records=5000).items():
                for record in records:
                    yield by_topic[tp.topic], json.loads(record.value)
    finally:
        group.close()


def consume_all(
    settings: Settings,
    role: str,
    *,
    until: Callable[[list[dict]], bool],
    timeout_s: float = 180,
) -> list[dict]:
    """Read a topic from the start (own group) until ``until(messages)`` or timeout."""
    out: list[dict] = []
    for _role, message in read_records(
        settings, [role], done=lambda: until(out), timeout_s=timeout_s
    ):
        out.append(message)
    return out


def seed_watch(settings: Settings, watch_id: str = "acme", query: str = "acme") -> None:
    """Store one watch in Redis (posts mentioning ``query`` match it)."""
    client = redis_client(settings)
    try:
        WatchStore(client).put(Watch(id=watch_id, name=watch_id.title(), query=query))
    finally:
        client.close()


def overall_volume(settings: Settings, since: datetime, until: datetime) -> int:
    """Posts counted in the Redis aggregates (overall scope) with event times in the range."""
    client = redis_client(settings)
    try:
        return int(AggregateStore(client, settings).totals(None, since, until)["volume"])
    finally:
        client.close()
