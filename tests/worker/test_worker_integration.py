"""Real workers on the real embedded broker and Redis: 5,000 mixed messages in, each valid
unique post scored exactly once, each invalid one dead-lettered with a reason, reposts
counted; two workers split the partitions and a killed one loses nothing."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.config import Settings
from pipeline.redis_io import redis_client
from pipeline.watches.store import VERSION_KEY, WATCHES_KEY
from tests.harness import PHRASES, WorkerProcess, consume_all, overall_volume, produce, seed_watch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INVALID = {
    "bad-json": b'{"id": "x", "source": ',
    "not-object": b'["a", "list"]',
    "wrong-type": json.dumps(
        {"id": 42, "source": "social", "created_at": START.isoformat(), "text": "hi"}
    ).encode(),
    "missing-text": json.dumps(
        {"id": "m", "source": "news", "created_at": START.isoformat()}
    ).encode(),
    "empty-text": json.dumps(
        {"id": "e", "source": "social", "created_at": START.isoformat(), "text": "  "}
    ).encode(),
    "bad-utf8": b'{"id": "u", "text": "\xff\xfe"}',
    "naive-time": json.dumps(
        {"id": "t", "source": "social", "created_at": "2026-03-02T09:00:00", "text": "hi"}
    ).encode(),
    "too-long": json.dumps(
        {"id": "l", "source": "news", "created_at": START.isoformat(), "text": "x" * 30_000}
    ).encode(),
}


def mixed_feed(n: int, seed: int, prefix: str) -> tuple[list, dict[str, str], int, int]:
    """(messages, valid id -> the original it repeats (itself if none), invalid, reposts).

    A repost and its original may sit on different partitions, so either can arrive first:
    the first one seen is scored and the other counted as a duplicate.
    """
    rng = random.Random(seed)
    messages, valid, invalid, reposts = [], {}, 0, 0
    originals: list[dict] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.10:
            kind = rng.choice(sorted(INVALID))
            messages.append((rng.choice(["social", "news"]), None, INVALID[kind]))
            invalid += 1
        elif roll < 0.15 and originals:
            original = rng.choice(originals)
            body = {**original, "id": f"{prefix}-{i}", "text": f"RT @fan: {original['text']}"}
            messages.append((body["source"], body["id"].encode(), json.dumps(body).encode()))
            valid[body["id"]] = original["id"]
            reposts += 1
        else:
            source = "news" if rng.random() < 0.3 else "social"
            body = {
                "id": f"{prefix}-{i}",
                "source": source,
                "created_at": (START + timedelta(seconds=i)).isoformat(),
                "text": f"Acme update {i}: {rng.choice(PHRASES)}",
                "author": f"@user{rng.randrange(500)}",
                "lang": "en",
            }
            if source == "news":
                body["title"] = f"Acme report {i}"
            messages.append((source, body["id"].encode(), json.dumps(body).encode()))
            valid[body["id"]] = body["id"]
            originals.append(body)
    return messages, valid, invalid, reposts


def volume(settings: Settings) -> int:
    return overall_volume(settings, START - timedelta(hours=1), START + timedelta(hours=3))


def test_mixed_feed_scored_once_dead_lettered_and_counted(fresh_topics: Settings) -> None:
    settings = fresh_topics
    redis_client(settings).flushdb()
    seed_watch(settings)
    messages, valid, invalid, reposts = mixed_feed(5_000, seed=7, prefix="mix")
    groups = set(valid.values())
    worker = WorkerProcess(settings, batch_max_size=64)
    try:
        worker.wait_ready()
        assert produce(settings, messages) == len(messages)
        scored = consume_all(settings, "scored", until=lambda got: len(got) >= len(groups),
                             timeout_s=300)  # fmt: skip
        dead = consume_all(settings, "dead_letter", until=lambda got: len(got) >= invalid,
                           timeout_s=60)  # fmt: skip
        time.sleep(2)  # let the last commit land before reading the counters
        metrics = worker.metrics()
    finally:
        worker.stop()
    ids = [s["id"] for s in scored]
    assert len(ids) == len(set(ids)), "a post was published twice"
    assert sorted(valid[i] for i in ids) == sorted(groups), "each text must be scored once"
    assert len(dead) == invalid and all(d["error"] and d["stage"] for d in dead)
    assert metrics["opinion_duplicates_total"] == reposts
    assert metrics["opinion_dead_lettered_total"] == invalid
    assert all(s["watch_ids"] == ["acme"] and s["model_version"] for s in scored)
    assert all(abs(sum(s["probabilities"].values()) - 1) < 1e-3 for s in scored)
    assert volume(settings) == len(groups)
    assert metrics["opinion_batch_size_count"] < len(valid) / 4, "posts were not batched"


def test_two_workers_split_partitions_and_survive_a_kill(fresh_topics: Settings) -> None:
    settings = fresh_topics
    redis_client(settings).flushdb()
    seed_watch(settings)
    messages, valid, _invalid, _reposts = mixed_feed(3_000, seed=11, prefix="two")
    groups = set(valid.values())
    first, second = WorkerProcess(settings, name="w1"), WorkerProcess(settings, name="w2")
    try:
        first.wait_ready()
        second.wait_ready()
        produce(settings, messages[:1500])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both must be scoring: the partitions are split
            if min(first.metrics()["opinion_scored_total"],
                   second.metrics()["opinion_scored_total"]) > 0:  # fmt: skip
                break
            time.sleep(1)
        else:
            pytest.fail("the two workers did not both get partitions")
        first.kill()  # crash mid-stream: no clean shutdown, no final commit
        produce(settings, messages[1500:])
        scored = consume_all(
            settings,
            "scored",
            until=lambda got: {valid[s["id"]] for s in got} >= groups,
            timeout_s=300,
        )
    finally:
        first.stop()
        second.stop()
    assert {valid[s["id"]] for s in scored} == groups, "a post was lost"
    assert volume(settings) == len(groups), "aggregates double-counted or lost posts"


def test_a_corrupt_watch_and_an_oversized_url_fail_nothing_else(fresh_topics: Settings) -> None:
    """A broken watch in Redis is skipped (other posts keep being scored and matched), and a
    post with a 100 KB url, well under the message size limit, is dead-lettered naming url."""
    settings = fresh_topics
    client = redis_client(settings)
    client.flushdb()
    seed_watch(settings)
    client.hset(WATCHES_KEY, "corrupt", b'{"id": "corrupt", "query": "((("}')
    client.hset(
        WATCHES_KEY, "deep", json.dumps({"id": "deep", "name": "d", "query": "NOT " * 400 + "x"})
    )
    client.incr(VERSION_KEY)
    client.close()
    posts = [
        {"id": f"lim-{i}", "source": "social", "lang": "en",
         "created_at": (START + timedelta(seconds=i)).isoformat(),
         "text": f"Acme update {i}: {PHRASES[i % len(PHRASES)]}"}
        for i in range(20)
    ]  # fmt: skip
    posts[7]["url"] = "https://example.com/" + "a" * 100_000
    messages = [("social", p["id"].encode(), json.dumps(p).encode()) for p in posts]
    assert len(messages[7][2]) < settings.max_message_bytes
    worker = WorkerProcess(settings)
    try:
        worker.wait_ready()
        assert produce(settings, messages) == len(messages)
        scored = consume_all(settings, "scored", until=lambda got: len(got) >= 19, timeout_s=120)
        dead = consume_all(settings, "dead_letter", until=lambda got: len(got) >= 1, timeout_s=30)
    finally:
        worker.stop()
    assert sorted(s["id"] for s in scored) == sorted(p["id"] for p in posts if p["id"] != "lim-7")
    assert all(s["watch_ids"] == ["acme"] for s in scored)
    assert [d["stage"] for d in dead] == ["validate"]
    assert dead[0]["error"].startswith("url: longer than 2048 characters")
