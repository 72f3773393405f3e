"""What one chunk of messages becomes (``RawMessage`` in, ``BatchResult`` out), the sinks it
goes to, and the retry loop every Redis step of the worker uses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import redis.exceptions

from pipeline.aggregation.plans import InputPosition
from pipeline.schemas import DeadLetter, ScoredPost
from pipeline.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")
TRANSIENT_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    # a Redis Cluster failing over or moving slots (OPINION_REDIS_CLUSTER)
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
)


@dataclass(frozen=True)
class RawMessage:
    """A message as read from Kafka."""

    value: bytes | None
    topic: str
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp: float | None = None  # broker append time, epoch seconds


@dataclass
class BatchResult:
    scored: list[ScoredPost] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    redelivered: int = 0
    positions: dict[str, InputPosition] = field(default_factory=dict)  # of scored posts, by id
    latest_event: dict[tuple[str, int], float] = field(default_factory=dict)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    messages: list[RawMessage] = field(default_factory=list)  # their attempts clear on commit

    def note_offset(self, msg: RawMessage) -> None:
        """Count ``msg`` in the partition progress of this chunk."""
        if msg.offset is not None:
            where = (msg.topic, msg.partition or 0)
            self.next_offsets[where] = max(msg.offset + 1, self.next_offsets.get(where, 0))

    def progress(self) -> list[tuple[str, int, float, int]]:
        """(topic, partition, latest event time, next offset) per partition in the chunk."""
        return [
            (topic, part, self.latest_event.get((topic, part), 0.0), offset)
            for (topic, part), offset in self.next_offsets.items()
        ]


class AggregateSink(Protocol):
    async def record_batch(
        self,
        events: Sequence[ScoredPost],
        positions: Mapping[str, InputPosition] | None = None,
    ) -> int: ...


# Receives BatchResult.progress() of each committed chunk (see pipeline.worker.watermark).
ProgressSink = Callable[[list[tuple[str, int, float, int]]], Awaitable[None]]


async def retry_forever(
    what: str, call: Callable[[], Awaitable[T]], metrics: WorkerMetrics, max_delay_s: float = 5.0
) -> T:
    """Retry a Redis/broker call with backoff until it succeeds: pause, never drop."""
    delay = 0.1
    while True:
        try:
            return await call()
        except TRANSIENT_ERRORS as exc:
            metrics.redis_retries.inc()
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)
