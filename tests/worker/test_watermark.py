"""The event-time watermark: queued partitions hold it back, caught-up idle ones do not."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest

from pipeline.config import Settings
from pipeline.worker.batch import RawMessage
from pipeline.worker.detection import InputEndOffsets
from pipeline.worker.watermark import (
    HIGHWATERS_KEY,
    WATERMARKS_KEY,
    PartitionProgress,
    StallTracker,
    read_watermark,
    record_highwaters,
    record_progress,
    watermark_of,
)
from tests.harness import produce
from tests.worker.test_batch import make_processor, post

NOW = 1_000_000.0
T0 = 1_700_000_000.0


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def progress(ts: float, offset: int) -> PartitionProgress:
    return PartitionProgress(event_ts=ts, updated=NOW - 1, next_offset=offset)


def test_a_partition_far_ahead_cannot_pass_one_with_queued_posts() -> None:
    seen = {"in:0": progress(T0 + 3600, 500), "in:1": progress(T0 + 60, 20)}
    ends = {"in:0": 500, "in:1": 400}  # partition 1 has 380 posts still queued
    assert watermark_of(seen, ends, now=NOW) == at(T0 + 60)
    # Without offsets the leader alone would have moved it an hour on:
    assert watermark_of(seen, None, now=NOW) == at(T0 + 3600)


def test_a_partition_not_read_yet_blocks_every_judgement() -> None:
    seen = {"in:0": progress(T0 + 3600, 500)}
    assert watermark_of(seen, {"in:0": 500, "in:1": 7}, now=NOW) is None
    # ... unless it is empty
    assert watermark_of(seen, {"in:0": 500, "in:1": 0}, now=NOW) == at(T0 + 3600)


def test_caught_up_partitions_never_hold_it_back() -> None:
    # A small partition read to its end early (news, in a fast replay) has an old latest
    # event time: it must not stop the others from moving the watermark on.
    seen = {"news:0": progress(T0 + 60, 9), "in:0": progress(T0 + 600, 40)}
    assert watermark_of(seen, {"news:0": 9, "in:0": 50}, now=NOW) == at(T0 + 600)
    assert watermark_of(seen, {"news:0": 9, "in:0": 40}, now=NOW) == at(T0 + 600)
    assert watermark_of({}, {"news:0": 0}, now=NOW) is None


def test_partitions_of_other_topics_are_ignored() -> None:
    seen = {"old:0": progress(T0 + 9999, 5), "in:0": progress(T0 + 90, 5)}
    assert watermark_of(seen, {"in:0": 5}, now=NOW) == at(T0 + 90)


def test_a_stalled_partition_stops_holding_it_back_after_stall_s() -> None:
    stalls = StallTracker(stall_s=100)
    seen = {"in:0": progress(T0 + 900, 80), "in:1": progress(T0 + 10, 3)}
    ends = {"in:0": 80, "in:1": 40}

    def mark(now: float) -> datetime | None:
        return watermark_of(seen, ends, now=now, stalls=stalls)

    assert mark(NOW) == at(T0 + 10)
    assert mark(NOW + 99) == at(T0 + 10)
    assert mark(NOW + 101) == at(T0 + 900)  # no progress for 101 s: released
    seen["in:1"] = progress(T0 + 20, 4)  # progress again: it holds again
    assert mark(NOW + 102) == at(T0 + 20)


def test_old_two_field_entries_still_parse() -> None:
    assert PartitionProgress.parse(b"12.5|99.0") == PartitionProgress(12.5, 99.0, 0)
    p = PartitionProgress(12.5, 99.0, 7)
    assert PartitionProgress.parse(p.encode()) == p


def test_every_message_advances_the_offset_even_dead_letters_only() -> None:
    processor, _ = make_processor()
    batch = [
        post(10, "Acme Air fine", created_at="2026-05-01T10:05:00+00:00"),
        RawMessage(value=b"{broken", topic="in", partition=0, offset=11),
        RawMessage(value=b"{broken", topic="news", partition=2, offset=40),
    ]
    result = asyncio.run(processor.process(batch))
    by_partition = {(t, p): (ts, off) for t, p, ts, off in result.progress()}
    assert by_partition[("in", 0)] == (datetime(2026, 5, 1, 10, 5, tzinfo=UTC).timestamp(), 12)
    assert by_partition[("news", 2)] == (0.0, 41)


@pytest.mark.integration
def test_progress_keeps_maxima_and_end_offsets_come_from_the_broker(
    fresh_topics: Settings, redis_db
) -> None:  # type: ignore[no-untyped-def]
    from pipeline.redis_io import async_redis_client

    async def record(*items: tuple[str, int, float, int]) -> None:
        client = async_redis_client(fresh_topics)
        try:
            await record_progress(client, items)
        finally:
            await client.aclose()

    social, news = fresh_topics.topic("social"), fresh_topics.topic("news")
    asyncio.run(record((social, 0, T0 + 50, 9)))
    asyncio.run(record((social, 0, T0 + 20, 4)))  # a re-delivered older chunk
    saved = PartitionProgress.parse(redis_db.hget(WATERMARKS_KEY, f"{social}:0"))
    assert (saved.event_ts, saved.next_offset) == (T0 + 50, 9)
    assert read_watermark(redis_db) == at(T0 + 50)

    body = json.dumps({"id": "x", "text": "hi"}).encode()
    assert produce(fresh_topics, [("social", b"k", body)] * 3 + [("news", b"k", body)]) == 4

    async def ends() -> dict[str, int]:
        reader = InputEndOffsets(fresh_topics)
        try:
            return await reader.read()
        finally:
            await reader.close()

    got = asyncio.run(ends())
    assert len(got) == 2 * fresh_topics.input_partitions
    # Non-empty partitions report at least 1 (Tansu: the start of the last batch, plus 1).
    assert [k for k, v in got.items() if v > 0 and k.startswith(f"{social}:")]
    assert [k for k, v in got.items() if v > 0 and k.startswith(f"{news}:")]
    # A news partition holds a post nobody read: nothing may be judged yet.
    assert read_watermark(redis_db, got) is None

    # Offsets: social:0 finished up to 9. Its ListOffsets end (0 here) is raised to the
    # high-water mark a consumer saw (12): 3 posts wait there, so it holds at its own time.
    only_social0 = {f"{social}:0": 0}
    assert read_watermark(redis_db, only_social0) == at(T0 + 50)
    record_highwaters(redis_db, {f"{social}:0": 12})
    record_highwaters(redis_db, {f"{social}:0": 10})  # an older fetch never lowers it
    assert redis_db.hget(HIGHWATERS_KEY, f"{social}:0") == b"12"
    stalls = StallTracker(stall_s=1e9)
    asyncio.run(record((news, 0, T0 + 5000, 1)))
    both = {f"{social}:0": 0, f"{news}:0": 1}
    assert read_watermark(redis_db, both, stalls) == at(T0 + 50)
    asyncio.run(record((social, 0, T0 + 70, 12)))  # caught up: everything was aggregated
    assert read_watermark(redis_db, both, stalls) == at(T0 + 5000)


@pytest.mark.integration
def test_a_far_future_post_cannot_move_the_watermark_past_now(
    stack_settings: Settings, redis_db
) -> None:  # type: ignore[no-untyped-def]
    from pipeline.redis_io import async_redis_client

    async def record() -> None:
        client = async_redis_client(stack_settings)
        try:
            await record_progress(client, [("in", 0, 7_000_000_000.0, 3)])  # year 2191
        finally:
            await client.aclose()

    asyncio.run(record())
    before = datetime.now(UTC)
    mark = read_watermark(redis_db, {"in:0": 3})  # caught up
    assert mark is not None and before <= mark <= datetime.now(UTC)


@pytest.mark.integration
def test_concurrent_progress_updates_keep_the_maxima(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    """Workers overlapping on a partition (a rebalance) must not move its progress back."""
    from pipeline.redis_io import async_redis_client

    redis_db.hset(WATERMARKS_KEY, "in:1", "5.0|1.0")  # an entry of the old two-field format
    updates = [(T0 + (i * 37) % 50, (i * 11) % 40) for i in range(40)]

    async def run() -> None:
        clients = [async_redis_client(stack_settings) for _ in updates]
        try:
            await asyncio.gather(
                *(
                    record_progress(c, [("in", 0, ts, offset), ("in", 1, ts, offset)])
                    for c, (ts, offset) in zip(clients, updates, strict=True)
                )
            )
        finally:
            for c in clients:
                await c.aclose()

    asyncio.run(run())
    for field in ("in:0", "in:1"):
        saved = PartitionProgress.parse(redis_db.hget(WATERMARKS_KEY, field))
        assert (saved.event_ts, saved.next_offset) == (
            max(ts for ts, _ in updates),
            max(offset for _, offset in updates),
        )
        assert abs(saved.updated - time.time()) < 60
