"""Event-time watermark shared by all workers, for live spike detection.

After each committed chunk a worker records, per input partition, the latest event time it
aggregated and the offset after the last message it finished (``opinion:watermarks``). The
detector compares those offsets with each partition's end offset: the larger of the
broker's ListOffsets answer (a lower bound: Tansu reports the start of the last record
batch, see ENVIRONMENT.md) and the high-water marks the workers' consumers saw in fetch
responses (``opinion:highwaters``, recorded every detector tick).

- a partition with posts still waiting (end offset > finished offset) holds the watermark
  at its latest event time, and a partition never read yet holds it back entirely, so no
  bucket is judged while some of its posts are still queued (a fast replay, a backlog
  after an outage, partitions consumed at uneven speed);
- a partition with posts waiting but no progress for ``stall_s`` (a stuck or dead
  consumer) stops holding it back, with a warning, so one partition cannot stop detection;
- caught-up partitions do not hold it back: every post the broker has was aggregated.

The watermark is the oldest event time among the partitions holding it or, when none
holds it, the latest event time aggregated (later stragglers are what the detector's
lateness allowance is for).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis

from pipeline.keys import HIGHWATERS as HIGHWATERS_KEY
from pipeline.keys import WATERMARKS as WATERMARKS_KEY
from pipeline.keys import input_field

log = logging.getLogger(__name__)
# Both scripts keep per-field maxima atomically (workers of one group may briefly overlap on a
# partition after a rebalance; a read-then-write from Python could move a field back).
_KEEP_MAX = """
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0
"""
# ARGV: now, then (field, event_ts, next_offset) triples; values are PartitionProgress.encode()
_KEEP_PROGRESS = """
for i = 2, #ARGV, 3 do
  local ts, offset = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if old then
    local old_ts, rest = string.match(old, '^([^|]*)|?(.*)$')
    local _, old_offset = string.match(rest, '^([^|]*)|?(.*)$')
    ts = math.max(ts, tonumber(old_ts) or 0)
    offset = math.max(offset, tonumber(old_offset) or 0)
  end
  redis.call('HSET', KEYS[1], ARGV[i], string.format('%.3f|%s|%d', ts, ARGV[1], offset))
end
return 0
"""


@dataclass(frozen=True)
class PartitionProgress:
    """What the workers finished of one input partition."""

    event_ts: float  # latest event time aggregated (epoch seconds); 0 if none yet
    updated: float  # wall time of the last update
    next_offset: int  # offset after the last message finished (scored, duplicate or dead)

    @classmethod
    def parse(cls, raw: bytes | str) -> PartitionProgress:
        text = raw.decode() if isinstance(raw, bytes) else raw
        ts, _, rest = text.partition("|")
        wall, _, offset = rest.partition("|")
        return cls(float(ts or 0), float(wall or 0), int(offset or 0))

    def encode(self) -> str:
        return f"{self.event_ts:.3f}|{self.updated:.3f}|{self.next_offset}"


async def record_progress(
    client: aioredis.Redis, progress: Iterable[tuple[str, int, float, int]]
) -> None:
    """Store (topic, partition, latest event epoch, next offset) of a committed chunk,
    keeping the maxima (a re-delivered chunk never moves a partition back)."""
    args = [f"{time.time():.3f}"]
    for topic, partition, ts, offset in progress:
        args += [input_field(topic, partition), f"{ts:.3f}", str(offset)]
    if len(args) > 1:
        await client.eval(_KEEP_PROGRESS, 1, WATERMARKS_KEY, *args)


class StallTracker:
    """Since when each lagging partition has made no progress (kept per detector)."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._since: dict[str, tuple[int, float]] = {}
        self._warned: set[str] = set()

    def stalled(self, key: str, finished: int, end: int, now: float) -> bool:
        """True once ``key`` had posts waiting and the same finished offset for ``stall_s``."""
        last = self._since.get(key)
        if last is None or last[0] != finished:
            self._since[key] = (finished, now)
            self._warned.discard(key)
            return False
        if now - last[1] < self.stall_s:
            return False
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "Partition %s has %d posts waiting and made no progress for %.0f s; spike "
                "detection stops waiting for it. Check that a worker consumes it "
                "(`opinion worker` logs, consumer lag).",
                key, end - finished, now - last[1],
            )  # fmt: skip
        return True


def watermark_of(
    progress: Mapping[str, PartitionProgress],
    end_offsets: Mapping[str, int] | None,
    *,
    now: float,
    stalls: StallTracker | None = None,
) -> datetime | None:
    """The watermark (see the module docstring), or None while nothing may be judged.

    ``end_offsets`` maps every input partition (``topic:partition``) to its end offset;
    progress of other partitions is ignored. None: every partition counts as caught up.
    """
    ends: Mapping[str, int] = {key: 0 for key in progress} if end_offsets is None else end_offsets
    holding: list[float] = []
    latest = 0.0
    for key, end in ends.items():
        seen = progress.get(key)
        finished = seen.next_offset if seen else 0
        if seen is not None:
            latest = max(latest, seen.event_ts)
        if end <= finished:
            continue  # caught up
        if stalls is not None and stalls.stalled(key, finished, end, now):
            continue
        if seen is None or not seen.event_ts:
            return None  # not read yet: its posts could belong to any bucket
        holding.append(seen.event_ts)
    mark = min(holding) if holding else latest
    return datetime.fromtimestamp(mark, UTC) if mark else None


def record_highwaters(client: redis.Redis, highwaters: Mapping[str, int]) -> None:
    """Store the high-water marks a consumer saw (``topic:partition`` -> offset), keeping
    the maximum per partition."""
    if highwaters:
        args = [x for key, offset in highwaters.items() for x in (key, str(offset))]
        client.eval(_KEEP_MAX, 1, HIGHWATERS_KEY, *args)


def read_watermark(
    client: redis.Redis,
    end_offsets: Mapping[str, int] | None = None,
    stalls: StallTracker | None = None,
) -> datetime | None:
    """``watermark_of`` the progress recorded in Redis; ``end_offsets`` (the broker's
    ListOffsets answer) are raised to the recorded high-water marks. Never later than the
    wall clock: a post with a far-future ``created_at`` must not close open buckets."""
    raw = client.hgetall(WATERMARKS_KEY)
    progress = {k.decode(): PartitionProgress.parse(v) for k, v in raw.items()}
    ends = None
    if end_offsets is not None:
        seen = {k.decode(): int(v) for k, v in client.hgetall(HIGHWATERS_KEY).items()}
        ends = {key: max(end, seen.get(key, 0)) for key, end in end_offsets.items()}
    now = time.time()
    mark = watermark_of(progress, ends, now=now, stalls=stalls)
    return None if mark is None else min(mark, datetime.fromtimestamp(now, UTC))
