"""The commit protocol: the one place that says in which order a processed chunk becomes
durable, and why. At-least-once delivery with exact aggregates depends on this order.

1. **publish** the scored events and dead letters and wait for every broker ack
   (``TopicSink.publish``). A crash before this ends re-delivers the chunk: the scored topic
   may carry a duplicate, never a gap.
2. **aggregate** the scored posts in Redis (``AggregateStore.record_batch``): idempotent per
   scope by input offset (each scope keeps the highest offset it counted per partition, in
   the same atomic step as the counts), so re-delivered posts are never counted twice. Chunks
   of one partition are committed in offset order (``BatchProcessor.handle``), which is what
   makes one offset per partition enough.
3. **record progress** per input partition (latest event time, next offset): after 2, so
   live detection never judges a bucket whose posts are not counted, and a re-delivered
   message below the next offset is skipped before scoring (``RepostGuard``).
4. **clear poison attempts** of the chunk's offsets (``AttemptTracker.clear``): last, so a
   worker that dies during 1-3 still leaves an attempt on the record.
5. **ack**: ``BatchProcessor.handle`` returns only when every chunk of a take went through
   1-4; the Faust agent's loop body then ends, and Faust acknowledges the events and commits
   their offsets after flushing its producer. A crash anywhere before re-delivers; the group
   then resumes at or below what 2 and 3 recorded, so nothing between is lost.

Every Redis step retries with backoff until Redis answers (pause, never drop).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.poison import AttemptTracker
from pipeline.worker.results import AggregateSink, BatchResult, ProgressSink, retry_forever

Publish = Callable[[BatchResult], Awaitable[None]]


@dataclass
class ChunkCommit:
    """Runs steps 1-4 above for one processed chunk (step 5 is the caller's return)."""

    aggregates: AggregateSink
    metrics: WorkerMetrics
    progress: ProgressSink | None = None
    attempts: AttemptTracker | None = None

    async def __call__(self, result: BatchResult, publish: Publish) -> None:
        await publish(result)
        await self.after_publish(result)

    async def after_publish(self, result: BatchResult) -> None:
        """Steps 2-4 (the chunk is on the broker already)."""
        if result.scored:
            await retry_forever(
                "aggregating",
                lambda: self.aggregates.record_batch(result.scored, result.positions),
                self.metrics,
            )
        progress = result.progress()
        if self.progress is not None and progress:
            sink = self.progress
            await retry_forever("recording progress", lambda: sink(progress), self.metrics)
        tracker = self.attempts
        if tracker is not None and result.messages:
            await retry_forever(
                "clearing attempts", lambda: tracker.clear(result.messages), self.metrics
            )
        self._count(result)

    def _count(self, result: BatchResult) -> None:
        self.metrics.count_scored(result.scored)
        self.metrics.count_dead(result.dead)
        now = time.time()
        self.metrics.end_to_end_lag.observe_many(
            max(0.0, now - event.ingested_at.timestamp()) for event in result.scored
        )
