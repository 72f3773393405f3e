"""AggregateStore against the real embedded Valkey: idempotency, rollups, slots, reads."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from redis.cluster import key_slot

from pipeline import keys
from pipeline.aggregation.bucket import epoch
from pipeline.aggregation.offsets import forget_topic
from pipeline.aggregation.plans import SAMPLES_PER_BUCKET, InputPosition
from pipeline.aggregation.store import AggregateStore, AsyncAggregateStore
from pipeline.config import Settings
from pipeline.redis_io import async_redis_client
from tests.aggregation.factories import T0, make_post

pytestmark = pytest.mark.integration
LABELS = ("negative", "neutral", "positive")


def _events(n: int = 600, seed: int = 1) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=rng.uniform(0, 3 * 3600))  # 3 hours of event time
        watches = rng.choice([[], ["alpha"], ["beta"], ["alpha", "beta"]])
        out.append(
            make_post(
                f"e{i}",
                at,
                rng.choice(LABELS),  # type: ignore[arg-type]
                watches=watches,
                source=rng.choice(["social", "news"]),
                lang=rng.choice(["en", "zh"]),
                negativity=round(rng.random(), 6),
                terms=[rng.choice(["late", "refund", "rude"])],
            )
        )
    return out


def _dump(client) -> dict:  # type: ignore[no-untyped-def]
    """Every key's value (not TTLs)."""
    out = {}
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key).decode()
        if kind == "hash":
            out[key] = client.hgetall(key)
        elif kind == "zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            out[key] = client.lrange(key, 0, -1)
        elif kind == "string":
            out[key] = client.get(key)
        else:
            out[key] = kind
    return out


@pytest.fixture()
def store(redis_db, stack_settings: Settings) -> AggregateStore:  # type: ignore[no-untyped-def]
    return AggregateStore(redis_db, stack_settings)


def test_replaying_the_same_events_changes_nothing(store: AggregateStore, redis_db) -> None:  # type: ignore[no-untyped-def]
    events = _events()
    batches = [events[i : i + 64] for i in range(0, len(events), 64)]
    assert sum(store.record_batch(b) for b in batches) == len(events)
    before = _dump(redis_db)
    shuffled = events[:]
    random.Random(2).shuffle(shuffled)
    assert sum(store.record_batch(shuffled[i : i + 50]) for i in range(0, 600, 50)) == 0
    assert _dump(redis_db) == before
    # a batch with in-batch duplicates counts each id once
    dup = make_post("dup", T0, "negative", watches=["alpha"])
    assert store.record_batch([dup, dup]) == 1


def test_events_read_from_kafka_count_once_by_offset(store: AggregateStore, redis_db) -> None:  # type: ignore[no-untyped-def]
    """A worker that lost its partitions commits a chunk another worker already counted in
    part: every post counts once, and the state is one offset per scope and partition."""
    events = _events(300, seed=3)
    at = {e.id: InputPosition("social", i % 2, i // 2) for i, e in enumerate(events)}
    counted = store.record_batch(events[:64], at) + store.record_batch(events[64:130], at)
    counted += store.record_batch(events[:164], at)  # the slow worker's chunk: 0..163
    counted += store.record_batch(events[130:200], at) + store.record_batch(events[200:], at)
    counted += store.record_batch(events[250:], at)  # a re-delivery after a crash
    assert counted == len(events)
    since, until = T0, T0 + timedelta(hours=3)
    assert store.totals(None, since, until)["volume"] == len(events)
    alpha = sum("alpha" in e.watch_ids for e in events)
    assert store.totals("alpha", since, until)["volume"] == alpha
    assert not list(redis_db.scan_iter("*:seen:*")), "no key per post"
    assert redis_db.hgetall(keys.offsets_key(None)) == {b"social:0": b"149", b"social:1": b"149"}
    assert 0 < redis_db.ttl(keys.offsets_key("alpha")) <= store.plans.ttl


def test_a_recreated_topic_counts_from_offset_zero_again(store: AggregateStore, redis_db) -> None:  # type: ignore[no-untyped-def]
    events = _events(40, seed=4)
    old, new = events[:20], events[20:]
    store.record_batch(old, {e.id: InputPosition("social", 0, i) for i, e in enumerate(old)})
    redis_db.hset(keys.WATERMARKS, keys.input_field("social", 0), "1.000|2.000|20")
    redis_db.hset(keys.WATERMARKS, keys.input_field("news", 0), "1.000|2.000|5")
    again = {e.id: InputPosition("social", 0, i) for i, e in enumerate(new)}
    assert store.record_batch(new, again) == 0  # offsets 0-19 look counted already
    assert forget_topic(redis_db, "social") >= 2
    assert store.record_batch(new, again) == len(new)
    assert redis_db.hkeys(keys.WATERMARKS) == [b"news:0"]


def test_one_batch_writes_what_one_event_at_a_time_writes(
    redis_db, stack_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    """The script sums a batch's increments before writing; the result must not show it."""
    store = AggregateStore(
        redis_db,
        stack_settings.model_copy(update={"recent_posts_per_watch": 40, "alert_sample_posts": 3}),
    )
    crowd = [  # more negative posts in one bucket than its samples keep
        make_post(f"c{i}", T0 + timedelta(seconds=i), "negative", watches=["alpha"],
                  negativity=(i % 7) / 10 + i / 1000)
        for i in range(15)
    ]  # fmt: skip
    events = _events(700, seed=5) + crowd  # over 500 new: the recent list is pushed in 2 parts
    counted_before = events[:40]
    batch = events + counted_before[:10] + events[100:105]  # replays and in-batch duplicates
    store.record_batch(counted_before)
    assert store.record_batch(batch) == len(events) - len(counted_before)
    batched = _dump(redis_db)
    in_bucket = {  # negative alpha posts of the first minute, by id
        e.id: e.negativity
        for e in events
        if e.label == "negative" and "alpha" in e.watch_ids and epoch(e.created_at) < epoch(T0) + 60
    }
    kept = redis_db.zrange(keys.samples_key("alpha", epoch(T0)), 0, -1, withscores=True)
    assert len(in_bucket) > SAMPLES_PER_BUCKET
    assert (
        sorted(round(score) for _, score in kept)
        == sorted(round(n * keys.NEGSUM_SCALE) for n in in_bucket.values())[-SAMPLES_PER_BUCKET:]
    )
    redis_db.flushdb()
    store.record_batch(counted_before)
    assert sum(store.record_batch([event]) for event in batch) == len(events) - 40
    assert _dump(redis_db) == batched


def test_totals_overall_counts_each_event_once(store: AggregateStore) -> None:
    events = _events()
    store.record_batch(events)
    since, until = T0, T0 + timedelta(hours=3)
    overall = store.totals(None, since, until)
    assert overall["volume"] == len(events)
    for label in LABELS:
        assert overall[label] == sum(e.label == label for e in events)
    for watch in ("alpha", "beta"):
        mine = [e for e in events if watch in e.watch_ids]
        got = store.totals(watch, since, until)
        assert got["volume"] == len(mine)
        assert got["negative"] == sum(e.label == "negative" for e in mine)
        assert got["mean_negativity"] == pytest.approx(
            sum(e.negativity for e in mine) / len(mine), abs=1e-5
        )
    news_zh = [e for e in events if e.source == "news" and e.lang == "zh"]
    assert store.totals(None, since, until, source="news", lang="zh")["volume"] == len(news_zh)
    assert store.watch_ids() == ["alpha", "beta"]


def test_rollups_match_the_one_minute_buckets(store: AggregateStore) -> None:
    store.record_batch(_events())
    since, until = T0, T0 + timedelta(hours=3)
    minutes = store.series("alpha", since, until, 60)
    assert len(minutes) == 180
    for width in (300, 3600, 120):  # 120: summed from 60 s buckets on read
        coarse = store.series("alpha", since, until, width)
        step = width // 60
        assert len(coarse) == 180 // step
        for i, bucket in enumerate(coarse):
            part = minutes[i * step : (i + 1) * step]
            assert bucket.volume == sum(b.volume for b in part)
            assert bucket.negative == sum(b.negative for b in part)
            assert bucket.negativity_sum == pytest.approx(sum(b.negativity_sum for b in part))
    day = store.series(None, since, until, 86400)
    assert len(day) == 1 and day[0].volume == 600
    # totals over an unaligned range use 1 h / 5 min / 1 min pieces
    a, b = T0 + timedelta(minutes=7), T0 + timedelta(minutes=133)
    assert store.totals("beta", a, b)["volume"] == sum(
        x.volume for x in store.series("beta", a, b, 60)
    )
    with pytest.raises(ValueError):
        store.series("alpha", since, until, 90)


def test_all_keys_of_a_watch_share_one_slot(store: AggregateStore, redis_db) -> None:  # type: ignore[no-untyped-def]
    store.record_batch(_events(100))
    slots: dict[str, set[int]] = {}
    for key in redis_db.scan_iter(match=f"{keys.AGG}:{{*", count=1000):
        scope = key.decode().split("{", 1)[1].split("}", 1)[0]
        slots.setdefault(scope, set()).add(key_slot(key))
    assert set(slots) == {"all", "w:alpha", "w:beta"}
    assert all(len(s) == 1 for s in slots.values())
    assert len({next(iter(s)) for s in slots.values()}) == 3  # different watches may shard


def test_recent_posts_terms_and_script_reload(
    store: AggregateStore, redis_db, stack_settings
) -> None:  # type: ignore[no-untyped-def]
    small = AggregateStore(
        redis_db, stack_settings.model_copy(update={"recent_posts_per_watch": 5})
    )
    posts = [
        make_post(f"r{i}", T0 + timedelta(seconds=i), "negative" if i % 2 else "positive",
                  watches=["w1"], terms=["outage"] if i % 2 else ["great"])
        for i in range(8)
    ]  # fmt: skip
    redis_db.script_flush()  # NOSCRIPT is handled by loading the script and resending
    assert small.record_batch(posts) == 8
    recent = small.recent_posts("w1", 10)
    assert [p.id for p in recent] == ["r7", "r6", "r5", "r4", "r3"]
    assert [p.id for p in small.recent_posts("w1", 2, label="negative")] == ["r7", "r5"]
    assert small.recent_posts("w1", 5, lang="zh") == []
    assert small.top_terms("w1", T0, T0 + timedelta(minutes=1)) == [("outage", 4)]
    assert redis_db.ttl(keys.recent_key("w1")) > stack_settings.retention_s - 10


def test_async_store_shares_keys_and_script(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    events = _events(200)
    sync_store = AggregateStore(redis_db, stack_settings)

    redis_db.script_flush()  # the async store loads the script on NOSCRIPT too

    async def run() -> tuple[int, int, dict]:
        client = async_redis_client(stack_settings)
        try:
            store = AsyncAggregateStore(client, stack_settings)
            first = await store.record_batch(events[:100])
            totals = await store.totals(None, T0, T0 + timedelta(hours=3))
            return first, await store.record_batch(events), totals
        finally:
            await client.aclose()

    first, second, totals = asyncio.run(run())
    assert (first, second, totals["volume"]) == (100, 100, 100)
    assert sync_store.record_batch(events) == 0
    assert sync_store.totals(None, T0, T0 + timedelta(hours=3))["volume"] == 200


def _public_methods(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def test_sync_and_async_stores_write_the_same_keys_and_read_the_same(
    stack_settings: Settings, redis_db
) -> None:  # type: ignore[no-untyped-def]
    assert _public_methods(AsyncAggregateStore) == _public_methods(AggregateStore)
    events = _events(300, seed=7)
    # half the events carry an input position (offset idempotence), half do not (markers)
    at = {e.id: InputPosition("social", 0, i) for i, e in enumerate(events) if i % 2}
    since, until = T0, T0 + timedelta(hours=3)
    sync_store = AggregateStore(redis_db, stack_settings)

    def reads(store_results: list) -> list:
        return [repr(r) for r in store_results]

    sync_store.record_batch(events[:150], at)
    sync_store.record_batch(events, at)
    sync_reads = reads([
        sync_store.series("alpha", since, until), sync_store.totals(None, since, until),
        sync_store.recent_posts("beta", 20, label="negative"),
        sync_store.top_terms(None, since, until),
        sync_store.negative_samples("alpha", since, until),
        sync_store.watch_ids(), sync_store.seen_range("beta"),
    ])  # fmt: skip
    written_by_sync = _dump(redis_db)
    redis_db.flushdb()

    async def run() -> list:
        client = async_redis_client(stack_settings)
        try:
            store = AsyncAggregateStore(client, stack_settings)
            await store.record_batch(events[:150], at)
            await store.record_batch(events, at)
            return reads([
                await store.series("alpha", since, until), await store.totals(None, since, until),
                await store.recent_posts("beta", 20, label="negative"),
                await store.top_terms(None, since, until),
                await store.negative_samples("alpha", since, until),
                await store.watch_ids(), await store.seen_range("beta"),
            ])  # fmt: skip
        finally:
            await client.aclose()

    async_reads = asyncio.run(run())
    assert _dump(redis_db) == written_by_sync
    assert len(written_by_sync) > 100
    assert async_reads == sync_reads


def test_negative_samples_outlive_the_recent_list(store: AggregateStore, redis_db) -> None:  # type: ignore[no-untyped-def]
    early = [
        make_post(f"e{i}", T0 + timedelta(seconds=i), "negative", watches=["w1"],
                  negativity=0.5 + i / 100)
        for i in range(15)
    ]  # fmt: skip
    later = [
        make_post(f"l{i}", T0 + timedelta(hours=1, seconds=i), "negative", watches=["w1"])
        for i in range(store.settings.recent_posts_per_watch + 5)
    ]
    store.record_batch(early)
    store.record_batch(later)  # pushes every early post out of the capped recent list
    assert not any(p.id.startswith("e") for p in store.recent_posts("w1", 1000))
    samples = store.negative_samples("w1", T0, T0 + timedelta(minutes=1), 3)
    assert [p.id for p in samples] == ["e14", "e13", "e12"]
    assert store.negative_samples("w1", T0, T0 + timedelta(minutes=1), 0) == []
    assert store.negative_samples("w2", T0, T0 + timedelta(minutes=1), 3) == []


def test_a_flood_of_distinct_terms_is_capped_per_bucket(redis_db, stack_settings) -> None:  # type: ignore[no-untyped-def]
    capped = AggregateStore(
        redis_db, stack_settings.model_copy(update={"max_terms_per_bucket": 50})
    )
    frequent = [
        make_post(f"f{i}", T0, "negative", watches=["w"], terms=["outage"]) for i in range(5)
    ]
    flood = [
        make_post(f"u{i}", T0, "negative", watches=["w"], terms=[f"tok{i}-{j}" for j in range(20)])
        for i in range(30)
    ]  # 600 distinct terms
    long = [make_post("long", T0, "negative", watches=["w"], terms=["x" * 65, "outage"])]
    assert capped.record_batch(frequent) == 5
    assert capped.record_batch(flood[:15]) + capped.record_batch(flood[15:] + long) == 31
    bucket = epoch(T0) - epoch(T0) % stack_settings.bucket_s
    assert redis_db.zcard(keys.terms_key("w", bucket)) == 50
    top = capped.top_terms("w", T0, T0 + timedelta(minutes=1), 1)
    assert top == [("outage", 6)]  # the frequent term survives; the 65-char one is dropped
