"""Poison messages against the real embedded Redis: attempts per offset are counted, and a
message that kills the worker ``poison_max_attempts`` times is dead-lettered unprocessed
while the messages around it are scored once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pipeline.config import Settings
from pipeline.model.types import Prediction
from pipeline.redis_io import async_redis_client
from pipeline.worker.batch import BatchProcessor, BatchResult, RawMessage
from pipeline.worker.model_holder import ModelHolder
from pipeline.worker.poison import ATTEMPTS_PREFIX, AttemptTracker
from tests.worker.fakes import KeywordScorer, MemoryAggregates, MemoryGuard
from tests.worker.test_batch import WATCHES, post

pytestmark = pytest.mark.integration


class WorkerKilled(BaseException):
    """Stands for the process dying (not an ``Exception``: nothing in the worker catches it)."""


class KillingScorer(KeywordScorer):
    """Kills the 'worker' whenever a batch contains 'kill me'."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        self.texts += texts
        if any("kill me" in t for t in texts):
            raise WorkerKilled
        return super().predict(texts, langs)


def test_tracker_counts_clears_and_expires(redis_db, stack_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    msgs = [RawMessage(value=b"x", topic="in", partition=1, offset=i) for i in range(3)]
    no_offset = RawMessage(value=b"x", topic="in")

    async def go() -> list[object]:
        client = async_redis_client(stack_settings)
        tracker = AttemptTracker(client, group="g", max_attempts=3, ttl_s=600)
        try:
            first = await tracker.begin([*msgs, no_offset])
            second = await tracker.begin(msgs)
            again = await tracker.again(msgs[1])
            third = await tracker.begin(msgs)
            await tracker.clear(msgs[:2])
            return [first, second, again, third, await tracker.begin(msgs)]
        finally:
            await client.aclose()

    first, second, again, third, after_clear = asyncio.run(go())
    assert first == [0, 0, 0, 0] and second == [1, 1, 1]
    assert again == 2 and third == [1, 2, 1]
    assert after_clear == [0, 0, 1]
    assert 590 < redis_db.ttl(f"{ATTEMPTS_PREFIX}g:in:1:2") <= 600


def test_a_message_that_kills_the_worker_three_times_is_dead_lettered(
    redis_db, stack_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    settings = stack_settings.model_copy(update={"batch_max_size": 4, "poison_max_attempts": 3})
    batch = [post(i, "kill me now" if i == 5 else f"great day {i}") for i in range(10)]
    guard, aggregates = MemoryGuard(), MemoryAggregates()  # survive "restarts", like Redis
    published: list[BatchResult] = []

    async def publish(result: BatchResult) -> None:
        published.append(result)

    async def deliver(scorer: KillingScorer) -> None:
        """One worker life: a fresh processor handles the whole (re-delivered) batch."""
        client = async_redis_client(settings)
        tracker = AttemptTracker(client, group="app", max_attempts=3, ttl_s=600)

        async def watches():  # type: ignore[no-untyped-def]
            return WATCHES

        processor = BatchProcessor(
            settings,
            model=ModelHolder(lambda _p: scorer, scorer),
            guard=guard,  # type: ignore[arg-type]
            aggregates=aggregates,
            watches=watches,
            attempts=tracker,
            progress=guard.record_progress,
        )
        try:
            await processor.handle(batch, publish)
        finally:
            await client.aclose()

    for _ in range(3):
        with pytest.raises(WorkerKilled):
            asyncio.run(deliver(KillingScorer()))
    last = KillingScorer()
    asyncio.run(deliver(last))

    assert not any("kill me" in t for t in last.texts), "the poison reached the model again"
    dead = [d for r in published for d in r.dead]
    assert [(d.offset, d.error) for d in dead] == [(5, "poison: killed the worker 3 times")]
    scored = [s.id for r in published for s in r.scored]
    assert sorted(scored) == sorted(f"p{i}" for i in range(10) if i != 5)  # each once
    assert set(aggregates.events) == set(scored)
    assert list(redis_db.scan_iter(f"{ATTEMPTS_PREFIX}*")) == [], "attempts not cleared"
