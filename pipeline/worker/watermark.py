"""Event-time watermark shared by all workers, for live spike detection.

Each worker records, per input partition it processes, the latest event time it saw (and
when). The watermark is the oldest of those over partitions active recently, so a bucket
is judged only once every busy partition has moved past it; a partition idle for longer
than ``idle_s`` (wall time) stops holding the watermark back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis

WATERMARKS_KEY = "opinion:watermarks"


async def record_event_times(
    client: aioredis.Redis, latest: Iterable[tuple[str, int, float]]
) -> None:
    """Store (topic, partition, latest event epoch) for this batch, keeping the maximum."""
    items = list(latest)
    if not items:
        return
    current = await client.hmget(WATERMARKS_KEY, [f"{t}:{p}" for t, p, _ in items])
    now = time.time()
    mapping = {}
    for (topic, part, ts), raw in zip(items, current, strict=True):
        previous = float(raw.decode().split("|")[0]) if raw else float("-inf")
        mapping[f"{topic}:{part}"] = f"{max(ts, previous):.3f}|{now:.3f}"
    await client.hset(WATERMARKS_KEY, mapping=mapping)


def read_watermark(client: redis.Redis, idle_s: float) -> datetime | None:
    """Oldest latest-event-time over partitions active within ``idle_s``; None if none."""
    now = time.time()
    active = []
    for raw in client.hvals(WATERMARKS_KEY):
        ts, _, wall = raw.decode().partition("|")
        if now - float(wall or 0) <= idle_s:
            active.append(float(ts))
    return datetime.fromtimestamp(min(active), UTC) if active else None
