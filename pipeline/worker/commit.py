"""The commit protocol: the one place that says in which order a processed chunk becomes
durable, and why. At-least-once delivery with exact aggregates depends on this order.

1. **publish** the scored events and dead letters and wait for every broker ack
   (``TopicSink.publish``). A crash before this ends re-delivers the chunk: the scored topic
   may carry a duplicate, never a gap.
2. **aggregate** the scored posts in Redis (``AggregateStore.record_batch``): idempotent per
   scope by event id, so re-delivered posts are never counted twice.
3. **mark done** every post of the chunk (``RepostGuard.mark_done``): a re-delivered post is
   then skipped before scoring. Only after 1 and 2: marked earlier, a crash would skip posts
   that were never published or counted.
4. **record progress** per input partition (latest event time, next offset) for the shared
   watermark: after 2, so live detection never judges a bucket whose posts are not counted.
5. **clear poison attempts** of the chunk's offsets (``AttemptTracker.clear``): last, so a
   worker that dies during 1-4 still leaves an attempt on the record.
6. **ack**: ``BatchProcessor.handle`` returns only when every chunk of a take went through
   1-5; the Faust agent's loop body then ends, and Faust acknowledges the events and commits
   their offsets after flushing its producer. A crash anywhere before re-delivers.

Every Redis step retries with backoff until Redis answers (pause, never drop).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline.worker.dedup import RepostGuard
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.poison import AttemptTracker
from pipeline.worker.results import AggregateSink, BatchResult, ProgressSink, retry_forever

Publish = Callable[[BatchResult], Awaitable[None]]


@dataclass
class ChunkCommit:
    """Runs steps 1-5 above for one processed chunk (step 6 is the caller's return)."""

    aggregates: AggregateSink
    guard: RepostGuard
    metrics: WorkerMetrics
    progress: ProgressSink | None = None
    attempts: AttemptTracker | None = None

    async def __call__(self, result: BatchResult, publish: Publish) -> None:
        await publish(result)
        await self.after_publish(result)

    async def after_publish(self, result: BatchResult) -> None:
        """Steps 2-5 (the chunk is on the broker already)."""
        if result.scored:
            await retry_forever(
                "aggregating", lambda: self.aggregates.record_batch(result.scored), self.metrics
            )
        await retry_forever(
            "marking done", lambda: self.guard.mark_done(result.done_ids), self.metrics
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
