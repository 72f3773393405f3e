"""Poison messages: attempts per input offset in Redis, so a message that kills the worker
(out of memory, a crash in native code) is dead-lettered instead of crash-looping every
worker it is delivered to.

Before a chunk is processed, ``begin`` records an attempt for each of its offsets (one
pipelined ``SET NX GET`` per key, one round trip per chunk); ``clear`` deletes them after
the chunk is committed. An offset that still has an attempt when it is delivered again was
being processed when a worker died: the batch processor then handles that chunk one message
at a time, recording each further attempt with ``again`` just before, so only the message
that kills the worker accumulates attempts. Keys expire after ``ttl_s`` in any case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as aioredis

from pipeline.keys import ATTEMPTS_PREFIX


class Located(Protocol):
    """Where a message was read from (``RawMessage`` has these)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int | None: ...
    @property
    def offset(self) -> int | None: ...


class AttemptTracker:
    """Counts processing attempts per (consumer group, topic, partition, offset)."""

    def __init__(
        self, client: aioredis.Redis, *, group: str, max_attempts: int, ttl_s: int
    ) -> None:
        self.redis = client
        self.group = group
        self.max_attempts = max_attempts
        self.ttl_s = ttl_s

    def key(self, msg: Located) -> str | None:
        """The attempt counter of ``msg``; ``None`` when it has no offset (not from Kafka)."""
        if msg.offset is None:
            return None
        return f"{ATTEMPTS_PREFIX}{self.group}:{msg.topic}:{msg.partition or 0}:{msg.offset}"

    async def begin(self, messages: Sequence[Located]) -> list[int]:
        """Record a first attempt at each message that has none; return the attempts each had
        before this call (0: never attempted, or its last attempt was committed)."""
        keys = [self.key(m) for m in messages]
        if not any(keys):
            return [0] * len(messages)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            if key is not None:
                pipe.set(key, 1, nx=True, get=True, ex=self.ttl_s)
        replies = iter(await pipe.execute())
        return [0 if key is None else int(next(replies) or 0) for key in keys]

    async def again(self, msg: Located) -> int:
        """Record one more attempt at ``msg`` (processed alone); the attempts so far."""
        key = self.key(msg)
        if key is None:
            return 1
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.ttl_s)
        count, _ = await pipe.execute()
        return int(count)

    async def clear(self, messages: Sequence[Located]) -> None:
        """Forget the attempts of committed messages."""
        keys = [k for k in map(self.key, messages) if k is not None]
        if not keys:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)  # one key per command: works on Redis Cluster too
        await pipe.execute()
