"""RepostGuard against the real embedded Valkey: new, repost, redelivered, window, retries."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.config import Settings
from pipeline.redis_io import async_redis_client
from pipeline.worker.dedup import RepostGuard

pytestmark = pytest.mark.integration
T = 1_780_000_000.0
KEY = b"test-repost-key"


def test_classify_and_mark_done(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    async def run() -> list[list[str]]:
        client = async_redis_client(stack_settings)
        guard = RepostGuard(client, key=KEY, window_s=600, done_ttl_s=3600)
        try:
            first = await guard.classify(
                [("a", "fp1", T), ("b", "fp1", T + 5), ("c", "fp2", T), ("c", "fp2", T)]
            )
            await guard.mark_done(["a"])
            second = await guard.classify(
                [
                    ("a", "fp1", T),  # done: a re-delivery
                    ("b", "fp1", T + 5),  # still a repost of a
                    ("c", "fp2", T),  # c owns fp2 and is not done: retrying our own work
                    ("d", "fp1", T + 601),  # same text, outside the window
                ]
            )
            return [list(first), list(second)]
        finally:
            await client.aclose()

    first, second = asyncio.run(run())
    assert first == ["new", "repost", "new", "redelivered"]
    assert second == ["redelivered", "repost", "new", "new"]
    assert redis_db.ttl("opinion:done:a") > 3000
    guard = RepostGuard(redis_db, key=KEY, window_s=600, done_ttl_s=3600)
    assert 0 < redis_db.ttl(guard.redis_key("fp1")) <= 600


def test_repost_keys_are_keyed_hashes(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    """Redis holds an HMAC of the text's fingerprint: without the key, reading Redis does not
    confirm a guessed post (the plain fingerprint of the guess is not there)."""
    from pipeline.text.clean import clean_text, repost_fingerprint

    fingerprint = repost_fingerprint(clean_text("Call Jane at home, she is sick"))

    async def run() -> None:
        client = async_redis_client(stack_settings)
        try:
            await RepostGuard(client, key=KEY, window_s=600, done_ttl_s=60).classify(
                [("a", fingerprint, T)]
            )
        finally:
            await client.aclose()

    asyncio.run(run())
    keys = [k.decode() for k in redis_db.keys("opinion:repost:*")]
    ours = RepostGuard(redis_db, key=KEY, window_s=1, done_ttl_s=1)
    other = RepostGuard(redis_db, key=b"another-key", window_s=1, done_ttl_s=1)
    assert keys == [ours.redis_key(fingerprint)] != [other.redis_key(fingerprint)]
    assert fingerprint not in keys[0]
    with pytest.raises(ValueError, match="OPINION_AUTHOR_HASH_SALT"):
        RepostGuard(redis_db, key=b"", window_s=1, done_ttl_s=1)
