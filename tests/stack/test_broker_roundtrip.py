"""Real broker and Redis round trips: 10,000 messages produced by two clients, none lost."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiokafka import AIOKafkaProducer

from pipeline.config import Settings
from pipeline.kafka_io import consumer, producer

pytestmark = pytest.mark.integration

N_EACH = 5_000


async def _produce_aiokafka(settings: Settings, topic: str, start: int, count: int) -> None:
    client = AIOKafkaProducer(
        bootstrap_servers=settings.resolved_kafka_bootstrap(), acks="all", linger_ms=5
    )
    await client.start()
    try:
        futures = [
            await client.send(topic, json.dumps({"n": n}).encode(), key=str(n).encode())
            for n in range(start, start + count)
        ]
        await asyncio.gather(*futures)
    finally:
        await client.stop()


def test_ten_thousand_messages_two_clients_consumer_group(fresh_topics: Settings) -> None:
    topic = fresh_topics.topic("social")
    sync_producer = producer(fresh_topics)
    futures = [
        sync_producer.send(topic, json.dumps({"n": n}).encode(), key=str(n).encode())
        for n in range(N_EACH)
    ]
    sync_producer.flush(30)
    assert all(f.succeeded() for f in futures), "kafka-python send not acknowledged"
    sync_producer.close()
    asyncio.run(_produce_aiokafka(fresh_topics, topic, N_EACH, N_EACH))

    seen: list[int] = []
    group = consumer(fresh_topics, topic, group_id=f"{fresh_topics.app_id}-roundtrip")
    deadline = time.monotonic() + 60
    try:
        while len(seen) < 2 * N_EACH and time.monotonic() < deadline:
            for records in group.poll(timeout_ms=500, max_records=2000).values():
                seen.extend(json.loads(r.value)["n"] for r in records)
        group.commit()
        partitions = {tp.partition for tp in group.assignment()}
    finally:
        group.close()
    assert len(seen) == 2 * N_EACH, f"consumed {len(seen)} of {2 * N_EACH}"
    assert set(seen) == set(range(2 * N_EACH)), "some messages lost"
    assert partitions == set(range(fresh_topics.input_partitions))


def test_redis_round_trip(redis_db) -> None:  # type: ignore[no-untyped-def]
    assert redis_db.ping()
    redis_db.hset("roundtrip", mapping={"a": "1", "b": "é"})
    redis_db.expire("roundtrip", 30)
    assert redis_db.hgetall("roundtrip") == {b"a": b"1", b"b": "é".encode()}
    assert 0 < redis_db.ttl("roundtrip") <= 30
    assert redis_db.config_get("appendonly")["appendonly"] == "yes"
