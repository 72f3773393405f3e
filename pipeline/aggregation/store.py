"""Rolling sentiment aggregates in Redis: ``AggregateStore`` (sync) and ``AsyncAggregateStore``.

Both run the ops planned by ``plans.Plans`` (same key scheme, same Lua script) in one pipeline
per call; only the execution differs, and they offer the same methods (a test runs the same
operations through both and compares every key written). ``record_batch`` is idempotent: by
input offset for events with an ``InputPosition`` (the worker's), else by event id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from pipeline.aggregation.bucket import Bucket
from pipeline.aggregation.plans import RECORD_LUA, Command, InputPosition, Op, Plans, combined
from pipeline.config import Settings
from pipeline.schemas import ScoredPost


def _queue(pipe: Any, cmds: list[Command]) -> None:
    for name, args, kwargs in cmds:
        getattr(pipe, name)(*args, **kwargs)


def _check(replies: list[Any]) -> bool:
    """Raise the first error reply; ``True`` when the script must be loaded first."""
    if any(isinstance(r, NoScriptError) for r in replies):
        return True
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return False


class AggregateStore:
    """Aggregates on a sync ``redis.Redis`` (decoded responses off)."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self.plans = Plans(settings)

    def _run(self, op: Op) -> Any:
        if not op.cmds:
            return op.parse([])
        for _ in range(2):
            pipe = self.redis.pipeline(transaction=False)
            _queue(pipe, op.cmds)
            replies = pipe.execute(raise_on_error=False)
            if not _check(replies):
                return op.parse(replies)
            self.redis.script_load(RECORD_LUA)  # replay is safe: the batch is idempotent
        raise RuntimeError("the aggregation script could not be loaded")

    def read_many(self, ops: Sequence[Op]) -> list[Any]:
        """Several planned reads (``Plans``) in one round trip; their results, in order."""
        return self._run(combined(ops))

    def record_batch(
        self,
        events: Sequence[ScoredPost],
        positions: Mapping[str, InputPosition] | None = None,
    ) -> int:
        """Count a batch of scored posts (one round trip); returns how many were new.
        ``positions``: each event's input position by id (``Plans.record``)."""
        return self._run(self.plans.record(events, positions))

    def series(
        self,
        watch_id: str | None,
        since: datetime,
        until: datetime,
        granularity_s: int | None = None,
        source: str | None = None,
        lang: str | None = None,
    ) -> list[Bucket]:
        """Buckets (empty ones included) overlapping ``[since, until)``; ``None`` = overall."""
        return self._run(self.plans.series(watch_id, since, until, granularity_s, source, lang))

    def totals(
        self,
        watch_id: str | None,
        since: datetime,
        until: datetime,
        source: str | None = None,
        lang: str | None = None,
    ) -> dict[str, Any]:
        """``volume``, ``negative``, ``neutral``, ``positive``, ``negative_share``, ..."""
        return self._run(self.plans.totals(watch_id, since, until, source, lang))

    def recent_posts(
        self,
        watch_id: str | None,
        limit: int = 50,
        label: str | None = None,
        source: str | None = None,
        lang: str | None = None,
    ) -> list[ScoredPost]:
        """Newest-first masked posts kept for drill-down."""
        return self._run(self.plans.recent_posts(watch_id, limit, label, source, lang))

    def top_terms(
        self, watch_id: str | None, since: datetime, until: datetime, n: int = 10
    ) -> list[tuple[str, int]]:
        """Most frequent explanation terms of negative posts in the range, with counts."""
        return self._run(self.plans.top_terms(watch_id, since, until, n))

    def negative_samples(
        self, watch_id: str | None, since: datetime, until: datetime, n: int = 3
    ) -> list[ScoredPost]:
        """The most negative masked posts of the range (kept per bucket, so old ranges work)."""
        return self._run(self.plans.negative_samples(watch_id, since, until, n))

    def watch_ids(self) -> list[str]:
        """Watches with at least one counted event."""
        return self._run(self.plans.watch_ids())

    def seen_range(self, watch_id: str | None = None) -> tuple[datetime, datetime] | None:
        """Earliest and latest event time counted (``None``: nothing yet)."""
        return self._run(self.plans.seen_range(watch_id))


class AsyncAggregateStore:
    """The same API on ``redis.asyncio.Redis`` (every method is a coroutine)."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self.plans = Plans(settings)

    async def _run(self, op: Op) -> Any:
        if not op.cmds:
            return op.parse([])
        for _ in range(2):
            pipe = self.redis.pipeline(transaction=False)
            _queue(pipe, op.cmds)
            replies = await pipe.execute(raise_on_error=False)
            if not _check(replies):
                return op.parse(replies)
            await self.redis.script_load(RECORD_LUA)
        raise RuntimeError("the aggregation script could not be loaded")

    async def read_many(self, ops: Sequence[Op]) -> list[Any]:
        return await self._run(combined(ops))

    async def record_batch(
        self,
        events: Sequence[ScoredPost],
        positions: Mapping[str, InputPosition] | None = None,
    ) -> int:
        return await self._run(self.plans.record(events, positions))

    async def series(
        self,
        watch_id: str | None,
        since: datetime,
        until: datetime,
        granularity_s: int | None = None,
        source: str | None = None,
        lang: str | None = None,
    ) -> list[Bucket]:
        return await self._run(
            self.plans.series(watch_id, since, until, granularity_s, source, lang)
        )

    async def totals(
        self,
        watch_id: str | None,
        since: datetime,
        until: datetime,
        source: str | None = None,
        lang: str | None = None,
    ) -> dict[str, Any]:
        return await self._run(self.plans.totals(watch_id, since, until, source, lang))

    async def recent_posts(
        self,
        watch_id: str | None,
        limit: int = 50,
        label: str | None = None,
        source: str | None = None,
        lang: str | None = None,
    ) -> list[ScoredPost]:
        return await self._run(self.plans.recent_posts(watch_id, limit, label, source, lang))

    async def top_terms(
        self, watch_id: str | None, since: datetime, until: datetime, n: int = 10
    ) -> list[tuple[str, int]]:
        return await self._run(self.plans.top_terms(watch_id, since, until, n))

    async def negative_samples(
        self, watch_id: str | None, since: datetime, until: datetime, n: int = 3
    ) -> list[ScoredPost]:
        return await self._run(self.plans.negative_samples(watch_id, since, until, n))

    async def watch_ids(self) -> list[str]:
        return await self._run(self.plans.watch_ids())

    async def seen_range(self, watch_id: str | None = None) -> tuple[datetime, datetime] | None:
        return await self._run(self.plans.seen_range(watch_id))
