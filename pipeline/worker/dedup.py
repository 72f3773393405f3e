"""Repost and re-delivery detection in Redis, one round trip per batch.

For each post: ``done:{id}`` says it was already fully processed (a re-delivery: skip);
``repost:{key}`` holds ``id|event-time`` of the post that first said this text, where the key
is an HMAC of the text's fingerprint with ``OPINION_AUTHOR_HASH_SALT`` (a plain hash of the
unmasked text would let anyone who reads Redis confirm a guessed post). If
it holds another id within the dedup window (in event time, so fast replays behave like
live traffic) the post is a repost (counted, not scored); if it holds our own id we are
retrying our own unfinished work after a crash (process it). Two single-key commands per
post (``EXISTS``, ``SET NX GET``: Redis >= 7.0), so this works unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

import redis.asyncio as aioredis

from pipeline.keys import DONE_PREFIX, REPOST_PREFIX

Status = Literal["new", "repost", "redelivered"]


class RepostGuard:
    """Classifies posts as new / repost / redelivered and marks them done."""

    def __init__(
        self, client: aioredis.Redis, *, key: bytes, window_s: int, done_ttl_s: int
    ) -> None:
        if not key:
            raise ValueError("RepostGuard needs a key: set OPINION_AUTHOR_HASH_SALT.")
        self.redis = client
        self._key = key
        self.window_s = window_s
        self.done_ttl_s = done_ttl_s

    def redis_key(self, fingerprint: str) -> str:
        """``opinion:repost:`` + HMAC-SHA-256 (128 bits) of the fingerprint under the key."""
        digest = hmac.new(self._key, b"repost:" + fingerprint.encode(), hashlib.sha256)
        return REPOST_PREFIX + digest.hexdigest()[:32]

    async def classify(self, items: Sequence[tuple[str, str, float]]) -> list[Status]:
        """``items`` are (post id, repost fingerprint, event time as epoch seconds)."""
        if not items:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for post_id, fingerprint, event_ts in items:
            key = self.redis_key(fingerprint)
            pipe.exists(DONE_PREFIX + post_id)
            # SET NX GET (Redis >= 7.0): the earlier owner's value, or None when we set ours
            pipe.set(key, f"{post_id}|{event_ts:.3f}", nx=True, get=True, ex=self.window_s)
        replies = await pipe.execute()
        statuses: list[Status] = []
        seen_ids: set[str] = set()
        for i, (post_id, _fingerprint, event_ts) in enumerate(items):
            done, earlier = replies[2 * i : 2 * i + 2]
            owner_id, _, owner_ts = (earlier or b"").decode().rpartition("|")
            if done or post_id in seen_ids:
                statuses.append("redelivered")
            elif (
                earlier is None  # we are the first to say this text
                or owner_id == post_id  # retrying our own unfinished work
                or abs(event_ts - float(owner_ts)) > self.window_s
            ):
                statuses.append("new")
            else:
                statuses.append("repost")
            seen_ids.add(post_id)
        return statuses

    async def mark_done(self, post_ids: Sequence[str]) -> None:
        if not post_ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for post_id in post_ids:
            pipe.set(DONE_PREFIX + post_id, 1, ex=self.done_ttl_s)
        await pipe.execute()
