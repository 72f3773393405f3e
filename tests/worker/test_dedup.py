"""RepostGuard against the real embedded Valkey: new, repost, redelivered, window, retries."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.config import Settings
from pipeline.redis_io import async_redis_client
from pipeline.worker.dedup import RepostGuard

pytestmark = pytest.mark.integration
T = 1_780_000_000.0


def test_classify_and_mark_done(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    async def run() -> list[list[str]]:
        client = async_redis_client(stack_settings)
        guard = RepostGuard(client, window_s=600, done_ttl_s=3600)
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
    assert 0 < redis_db.ttl("opinion:repost:fp1") <= 600
