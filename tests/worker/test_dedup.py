"""RepostGuard against the real embedded Valkey: new, repost, re-delivered (below the finished
offset, twice in a batch, or sent twice by a producer), window, retries."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.aggregation.plans import InputPosition
from pipeline.config import Settings
from pipeline.redis_io import async_redis_client
from pipeline.worker.dedup import Arrival, RepostGuard
from pipeline.worker.watermark import record_progress

pytestmark = pytest.mark.integration
T = 1_780_000_000.0
KEY = b"test-repost-key"


def test_classify_redelivered_duplicate_and_repost(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    def at(offset: int, partition: int = 0) -> InputPosition:
        return InputPosition("in", partition, offset)

    async def run() -> list[list[str]]:
        client = async_redis_client(stack_settings)
        guard = RepostGuard(client, key=KEY, window_s=600)
        try:
            first = await guard.classify(
                [
                    Arrival("a", "fp1", T, at(0)),
                    Arrival("b", "fp1", T + 5, at(1)),
                    Arrival("c", "fp2", T, at(2)),
                    Arrival("c", "fp2", T, at(2)),  # the same message twice in one batch
                ]
            )
            await record_progress(client, [("in", 0, T, 1)])  # offset 0 is finished
            second = await guard.classify(
                [
                    Arrival("a", "fp1", T, at(0)),  # below the finished offset: re-delivery
                    Arrival("b", "fp1", T + 5, at(1)),  # still a repost of a
                    Arrival("c", "fp2", T, at(2)),  # c owns fp2 at offset 2: our own retry
                    Arrival("c", "fp2", T, at(7, 1)),  # c sent again by a producer
                    Arrival("d", "fp1", T + 601, at(8)),  # same text, outside the window
                ]
            )
            return [list(first), list(second)]
        finally:
            await client.aclose()

    first, second = asyncio.run(run())
    assert first == ["new", "repost", "new", "redelivered"]
    assert second == ["redelivered", "repost", "new", "redelivered", "new"]
    guard = RepostGuard(redis_db, key=KEY, window_s=600)
    assert 0 < redis_db.ttl(guard.redis_key("fp1")) <= 600
    assert not redis_db.keys("opinion:done:*"), "nothing is kept per post past the window"


def test_classify_reposts_without_input_positions(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    """Arrivals without a position (tools, tests) keep ``id|event time`` owners: a second id
    saying the same text within the window is a repost, the same id again a retry."""

    async def run() -> list[str]:
        client = async_redis_client(stack_settings)
        guard = RepostGuard(client, key=KEY, window_s=600)
        try:
            await guard.classify([Arrival("a", "fp1", T)])
            return await guard.classify([Arrival("b", "fp1", T + 5), Arrival("a", "fp1", T)])
        finally:
            await client.aclose()

    assert asyncio.run(run()) == ["repost", "new"]


def test_repost_keys_are_keyed_hashes(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    """Redis holds an HMAC of the text's fingerprint: without the key, reading Redis does not
    confirm a guessed post (the plain fingerprint of the guess is not there)."""
    from pipeline.text.clean import clean_text, repost_fingerprint

    fingerprint = repost_fingerprint(clean_text("Call Jane at home, she is sick"))

    async def run() -> None:
        client = async_redis_client(stack_settings)
        try:
            await RepostGuard(client, key=KEY, window_s=600).classify(
                [Arrival("a", fingerprint, T)]
            )
        finally:
            await client.aclose()

    asyncio.run(run())
    keys = [k.decode() for k in redis_db.keys("opinion:repost:*")]
    ours = RepostGuard(redis_db, key=KEY, window_s=1)
    other = RepostGuard(redis_db, key=b"another-key", window_s=1)
    assert keys == [ours.redis_key(fingerprint)] != [other.redis_key(fingerprint)]
    assert fingerprint not in keys[0]
    with pytest.raises(ValueError, match="OPINION_AUTHOR_HASH_SALT"):
        RepostGuard(redis_db, key=b"", window_s=1)
