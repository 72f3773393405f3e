"""Re-delivery, duplicate and repost detection in Redis, one round trip per batch.

For each post, with its input position (topic, partition, offset):

- **re-delivered** when its offset is below the partition's *finished* offset (the workers'
  progress, ``opinion:watermarks``: every message before it was published, counted and
  recorded), or when its id already came earlier in the same batch: skipped, not rescored;
- otherwise ``repost:{key}`` decides, where the key is an HMAC of the text's fingerprint
  with ``OPINION_AUTHOR_HASH_SALT`` (a plain hash of the unmasked text would let anyone who
  reads Redis confirm a guessed post) and the value is ``id|event-time|@position`` of the
  post that first said this text within the dedup window (in event time, so fast replays
  behave like live traffic): no owner, or an owner outside the window -> **new**; another
  id -> **repost** (counted, not scored); our own id at our own position -> **new** (we are
  retrying our own unfinished work after a crash); our own id at another position -> a
  **re-delivered** copy (a producer sent the post twice).

Nothing is kept per post beyond the dedup window: aggregation is idempotent by input
offset (``pipeline.aggregation``), so no ``done`` marker is needed. Single-key commands
(``HMGET``, ``SET NX GET``: Redis >= 7.0), so this works unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from collections.abc import Sequence
from typing import Literal, NamedTuple

import redis.asyncio as aioredis

from pipeline.aggregation.plans import InputPosition
from pipeline.keys import REPOST_PREFIX, WATERMARKS
from pipeline.worker.watermark import PartitionProgress

Status = Literal["new", "repost", "redelivered"]


class Arrival(NamedTuple):
    """A post to classify: its id, repost fingerprint, event time and input position."""

    post_id: str
    fingerprint: str
    event_ts: float
    position: InputPosition | None = None


def position_code(position: InputPosition) -> str:
    """Short form of an input position kept in a repost owner (``@<topic crc>:<p>:<o>``)."""
    topic = zlib.crc32(position.topic.encode()) & 0xFFFF
    return f"@{topic:x}:{position.partition}:{position.offset}"


def owner_value(item: Arrival) -> str:
    """What a repost key holds for ``item``: ``id|event time``, then ``|@position`` when the
    item has one (``_parse_owner`` reads both forms)."""
    owner = f"{item.post_id}|{item.event_ts:.3f}"
    return owner if item.position is None else f"{owner}|{position_code(item.position)}"


class RepostGuard:
    """Classifies posts as new / repost / redelivered."""

    def __init__(self, client: aioredis.Redis, *, key: bytes, window_s: int) -> None:
        if not key:
            raise ValueError("RepostGuard needs a key: set OPINION_AUTHOR_HASH_SALT.")
        self.redis = client
        self._key = key
        self.window_s = window_s

    def redis_key(self, fingerprint: str) -> str:
        """``opinion:repost:`` + HMAC-SHA-256 (128 bits) of the fingerprint under the key."""
        digest = hmac.new(self._key, b"repost:" + fingerprint.encode(), hashlib.sha256)
        return REPOST_PREFIX + digest.hexdigest()[:32]

    async def classify(self, items: Sequence[Arrival]) -> list[Status]:
        """One status per item, in order."""
        if not items:
            return []
        parts = list(dict.fromkeys(i.position.field for i in items if i.position is not None))
        pipe = self.redis.pipeline(transaction=False)
        if parts:
            pipe.hmget(WATERMARKS, parts)
        for item in items:
            # SET NX GET (Redis >= 7.0): the earlier owner's value, or None when we set ours
            pipe.set(
                self.redis_key(item.fingerprint),
                owner_value(item),
                nx=True,
                get=True,
                ex=self.window_s,
            )
        replies = await pipe.execute()
        finished = _finished_offsets(parts, replies.pop(0) if parts else [])
        statuses: list[Status] = []
        seen_ids: set[str] = set()
        for item, earlier in zip(items, replies, strict=True):
            statuses.append(self._status(item, earlier, finished, seen_ids))
            seen_ids.add(item.post_id)
        return statuses

    def _status(
        self,
        item: Arrival,
        earlier: bytes | None,
        finished: dict[str, int],
        seen_ids: set[str],
    ) -> Status:
        position = item.position
        if position is not None and position.offset < finished.get(position.field, 0):
            return "redelivered"
        if item.post_id in seen_ids:
            return "redelivered"
        if earlier is None:
            return "new"  # we are the first to say this text
        owner_id, owner_ts, owner_at = _parse_owner(earlier.decode())
        if owner_id == item.post_id:
            # our own unfinished work after a crash, or the same post sent twice
            same = not owner_at or position is None or owner_at == position_code(position)
            return "new" if same else "redelivered"
        return "new" if abs(item.event_ts - owner_ts) > self.window_s else "repost"


def _finished_offsets(parts: list[str], reply: list[bytes | None]) -> dict[str, int]:
    """Next unfinished offset per partition field (0 when nothing is recorded)."""
    return {
        name: PartitionProgress.parse(raw).next_offset
        for name, raw in zip(parts, reply, strict=True)
        if raw
    }


def _parse_owner(value: str) -> tuple[str, float, str]:
    """(id, event time, position code) of a repost owner; position "" for older values."""
    head, _, last = value.rpartition("|")
    at = ""
    if last.startswith("@"):
        at, (head, _, last) = last, head.rpartition("|")
    return head, float(last or 0), at
