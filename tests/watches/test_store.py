"""Watches in the real embedded Redis: seed from YAML, edit, version counter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.redis_io import async_redis_client
from pipeline.watches.model import Watch
from pipeline.watches.store import VERSION_KEY, WATCHES_KEY, WatchStore, load_watch_file
from pipeline.worker.app import WatchCache

pytestmark = pytest.mark.integration


def test_seed_edit_and_version(redis_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "w.yaml"
    path.write_text(
        "watches:\n  - {id: acme, name: Acme, query: 'acme OR #acmeair'}\n"
        "  - {id: bank, name: Bank, query: northbank, languages: [en]}\n"
    )
    store = WatchStore(redis_db)
    assert store.seed(load_watch_file(path)) == ["acme", "bank"]
    v1 = store.version()
    store.put(Watch(id="acme", name="Acme", query="acme", enabled=False))
    assert store.seed(load_watch_file(path)) == []  # analysts' edit is kept
    assert store.get("acme").enabled is False  # type: ignore[union-attr]
    assert store.version() > v1
    assert store.watch_set().match("northbank and acme", lang="en", source="social") == ["bank"]
    assert store.delete("bank") and [w.id for w in store.all()] == ["acme"]


def test_a_broken_watch_in_redis_is_skipped_not_fatal(redis_db) -> None:  # type: ignore[no-untyped-def]
    store = WatchStore(redis_db)
    store.put(Watch(id="acme", name="Acme", query="acme"))
    redis_db.hset(WATCHES_KEY, "junk", b"{not json")
    redis_db.hset(WATCHES_KEY, "bad-query", b'{"id": "bad-query", "name": "x", "query": "(("}')
    assert [w.id for w in store.all()] == ["acme"]
    assert store.watch_set().match("acme flight", lang="en", source="social") == ["acme"]


def test_broken_watches_are_listed_and_skipped_by_the_worker_cache(
    redis_db, stack_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    store = WatchStore(redis_db)
    store.put(Watch(id="acme", name="Acme", query="acme"))
    deep = '{"id": "deep", "name": "x", "query": "%s"}' % ("NOT " * 1000 + "x")
    redis_db.hset(WATCHES_KEY, "deep", deep)
    redis_db.hset(WATCHES_KEY, "junk", b"{not json")
    redis_db.incr(VERSION_KEY)
    broken = store.broken()
    assert sorted(broken) == ["deep", "junk"]
    assert "2000-character limit" in broken["deep"] and "\n" not in broken["deep"]

    async def load():  # type: ignore[no-untyped-def]
        client = async_redis_client(stack_settings)
        try:
            return await WatchCache(client)()
        finally:
            await client.aclose()

    watches = asyncio.run(load())
    assert sorted(watches.broken) == ["deep", "junk"] and len(watches) == 1
    assert watches.match("acme", lang="en", source="social") == ["acme"]
