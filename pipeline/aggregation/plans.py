"""Pure planning/parsing of every aggregation operation (no I/O).

Each method returns an ``Op``: the Redis commands to send in one pipeline and a function that
turns their replies into the result. ``AggregateStore`` (sync) and ``AsyncAggregateStore``
(asyncio) only execute ops, so both share this logic, the key scheme and the Lua script.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, NamedTuple

from pipeline import keys
from pipeline.aggregation.bucket import Bucket, epoch, from_epoch
from pipeline.config import ConfigError, Settings
from pipeline.schemas import ScoredPost

RECORD_LUA = resources.files("pipeline.aggregation").joinpath("record.lua").read_text("utf-8")
RECORD_SHA = hashlib.sha1(RECORD_LUA.encode("utf-8")).hexdigest()
HGETALL_ABOVE = 200  # read a partition with HGETALL when more buckets than this are needed
MAX_BUCKETS = 200_000
MAX_TERMS_PER_POST = 20
MAX_TERM_CHARS = 64
"""Longer explanation terms are not counted (a token flood must not bloat Redis)."""
SAMPLES_PER_BUCKET = 10
"""Most negative posts kept per watch and base bucket (alert examples)."""

Command = tuple[str, tuple[Any, ...], dict[str, Any]]


class InputPosition(NamedTuple):
    """Where a post was read: input topic, partition and offset (its idempotence key)."""

    topic: str
    partition: int
    offset: int

    @property
    def field(self) -> str:
        """The partition's field in ``WATERMARKS`` and the scopes' offset hashes."""
        return keys.input_field(self.topic, self.partition)


@dataclass
class Op:
    """Commands for one pipeline and how to read the replies."""

    cmds: list[Command] = field(default_factory=list)
    parse: Callable[[list[Any]], Any] = lambda replies: replies


def combined(ops: Sequence[Op]) -> Op:
    """One op running ``ops`` in one round trip; it parses to their results, in order."""

    def parse(replies: list[Any]) -> list[Any]:
        results, start = [], 0
        for op in ops:
            results.append(op.parse(replies[start : start + len(op.cmds)]))
            start += len(op.cmds)
        return results

    return Op([cmd for op in ops for cmd in op.cmds], parse)


def granularities(settings: Settings) -> tuple[int, ...]:
    """Stored bucket widths, ascending: the base bucket then the rollups."""
    base = settings.bucket_s
    bad = [r for r in settings.rollup_s if r % base]
    if bad:
        raise ConfigError(f"OPINION_ROLLUP_S {bad} must be multiples of OPINION_BUCKET_S ({base}).")
    return (base, *sorted({r for r in settings.rollup_s if r > base}))


def _floor(value: int, width: int) -> int:
    return value - value % width


def _ceil(value: int, width: int) -> int:
    return -(-value // width) * width


def _num(raw: bytes | str | None) -> int:
    return int(raw) if raw else 0


class Plans:
    """Builds the ops of the aggregate store for one ``Settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.grans = granularities(settings)
        self.base = self.grans[0]
        self.ttl = settings.retention_s + 86_400
        self.cap = settings.recent_posts_per_watch

    # --- write ---------------------------------------------------------------------------
    def record(
        self,
        events: Sequence[ScoredPost],
        positions: Mapping[str, InputPosition] | None = None,
    ) -> Op:
        """One EVALSHA per hash-slot group (overall + each watch), plus first/last-seen.

        ``positions`` (by event id) makes counting idempotent by input offset (``record.lua``);
        an event without one is deduplicated by a marker key per scope instead."""
        if not events:
            return Op(parse=lambda _: 0)
        groups: dict[str | None, list[ScoredPost]] = defaultdict(list)
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        posts: dict[str, str] = {}
        for event in events:
            ts = epoch(event.created_at)
            for scope in (None, *dict.fromkeys(event.watch_ids)):
                groups[scope].append(event)
                member = keys.OVERALL_MEMBER if scope is None else scope
                first[member] = min(first.get(member, ts), ts)
                last[member] = max(last.get(member, ts), ts)
            posts.setdefault(event.id, event.model_dump_json())
        where = positions or {}
        cmds: list[Command] = [self._group_call(w, evs, posts, where) for w, evs in groups.items()]
        cmds.append(("zadd", (keys.FIRST_SEEN, first), {"lt": True}))
        cmds.append(("zadd", (keys.LAST_SEEN, last), {"gt": True}))
        return Op(cmds, parse=lambda replies: int(replies[0]))

    def _group_call(
        self,
        watch_id: str | None,
        events: list[ScoredPost],
        posts: dict[str, str],
        positions: Mapping[str, InputPosition],
    ) -> Command:
        index: dict[str, int] = {}

        def idx(key: str) -> int:
            return index.setdefault(key, len(index) + 1)

        parts: dict[str, int] = {}

        def part(position: InputPosition) -> int:
            """1-based index of the position's partition in the plan's ``parts``."""
            return parts.setdefault(position.field, len(parts) + 1)

        update_lists: dict[tuple[int, str, str], int] = {}
        upd: list[list[int | str]] = []

        def update_list(ts: int, source: str, lang: str) -> int:
            """1-based index of the counters an event of this bucket/source/language adds to."""
            shape = (_floor(ts, self.base), source, lang)
            found = update_lists.get(shape)
            if found is not None:
                return found
            dims = keys.event_dims(source, lang)
            updates: list[int | str] = []
            for gran in self.grans:
                start = _floor(ts, gran)
                part = keys.partition(start, gran)
                for dim in dims:
                    updates += [idx(keys.bucket_key(watch_id, gran, dim, part)), str(start)]
            upd.append(updates)
            update_lists[shape] = len(upd)
            return len(upd)

        planned = []
        for event in events:
            ts = epoch(event.created_at)
            updates_idx = update_list(ts, event.source, keys.norm_lang(event.lang))
            terms = [t.strip().casefold() for t in event.explanation if t and t.strip()]
            terms = [t for t in terms if len(t) <= MAX_TERM_CHARS]
            terms = list(dict.fromkeys(terms))[:MAX_TERMS_PER_POST]
            terms_idx = samples_idx = 0
            if event.label == "negative":
                samples_idx = idx(keys.samples_key(watch_id, _floor(ts, self.base)))
                if terms:
                    terms_idx = idx(keys.terms_key(watch_id, _floor(ts, self.base)))
            position = positions.get(event.id)
            planned.append(
                [
                    0 if position else idx(keys.marker_key(watch_id, event.id)),
                    keys.LABEL_METRIC[event.label],
                    round(event.negativity * keys.NEGSUM_SCALE),
                    updates_idx,
                    terms_idx,
                    terms if terms_idx else [],
                    posts[event.id],
                    samples_idx,
                    part(position) if position else 0,
                    position.offset if position else 0,
                ]
            )
        recent = idx(keys.recent_key(watch_id))
        marks = idx(keys.offsets_key(watch_id))
        plan = {
            "mttl": self.ttl,
            "ttl": self.ttl,
            "cap": self.cap,
            "scap": max(SAMPLES_PER_BUCKET, self.settings.alert_sample_posts),
            "tcap": self.settings.max_terms_per_bucket,
            "recent": recent,
            "marks": marks,
            "parts": list(parts),
            "upd": upd,
            "ev": planned,
        }
        key_list = list(index)
        # through execute_command: redis-py's cluster pipeline blocks its ``evalsha`` method
        # but routes a raw EVALSHA by its keys (all in this group's slot)
        args = ("EVALSHA", RECORD_SHA, len(key_list), *key_list, json.dumps(plan))
        return ("execute_command", args, {})

    # --- read ----------------------------------------------------------------------------
    def _fetch(
        self, watch_id: str | None, dimension: str, wanted: list[tuple[int, int]]
    ) -> tuple[list[Command], Callable[[list[Any]], dict[tuple[int, int], list[int]]]]:
        """Commands reading (granularity, bucket_start) counters, and their parser."""
        by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for gran, start in wanted:
            key = keys.bucket_key(watch_id, gran, dimension, keys.partition(start, gran))
            by_key[key].append((gran, start))
        cmds: list[Command] = []
        plan: list[tuple[bool, list[tuple[int, int]]]] = []
        for key, items in by_key.items():
            whole = len(items) > HGETALL_ABOVE
            if whole:
                cmds.append(("hgetall", (key,), {}))
            else:
                fields = [keys.field(s, m) for _, s in items for m in keys.METRICS]
                cmds.append(("hmget", (key, fields), {}))
            plan.append((whole, items))

        def parse(replies: list[Any]) -> dict[tuple[int, int], list[int]]:
            out: dict[tuple[int, int], list[int]] = {}
            for (whole, items), reply in zip(plan, replies, strict=True):
                if whole:
                    flat = {k.decode(): _num(v) for k, v in reply.items()}
                    for gran, start in items:
                        out[(gran, start)] = [flat.get(f"{start}:{m}", 0) for m in keys.METRICS]
                else:
                    n = len(keys.METRICS)
                    for i, item in enumerate(items):
                        out[item] = [_num(v) for v in reply[i * n : (i + 1) * n]]
            return out

        return cmds, parse

    def series(
        self,
        watch_id: str | None,
        since: datetime,
        until: datetime,
        granularity_s: int | None = None,
        source: str | None = None,
        lang: str | None = None,
    ) -> Op:
        """Contiguous buckets of ``granularity_s`` overlapping ``[since, until)``."""
        width = granularity_s or self.base
        stored = max((g for g in self.grans if width % g == 0), default=None)
        if stored is None:
            raise ValueError(f"granularity {width}s is not a multiple of bucket_s={self.base}")
        lo, hi = _floor(epoch(since), width), epoch(until)
        starts = list(range(lo, hi, width))
        if len(starts) * (width // stored) > MAX_BUCKETS:
            raise ValueError("range too long for this granularity; use a coarser one")
        wanted = [(stored, s + k) for s in starts for k in range(0, width, stored)]
        cmds, fetch = self._fetch(watch_id, keys.dim(source, lang), wanted)

        def parse(replies: list[Any]) -> list[Bucket]:
            got = fetch(replies)
            out = []
            for s in starts:
                tot = [0] * len(keys.METRICS)
                for k in range(0, width, stored):
                    tot = [a + b for a, b in zip(tot, got[(stored, s + k)], strict=True)]
                v, n, u, p, neg = tot
                out.append(Bucket.from_counts(s, v, n, u, p, neg / keys.NEGSUM_SCALE))
            return out

        return Op(cmds, parse)

    def cover(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Fewest stored buckets tiling ``[lo, hi)`` (multiples of the base bucket)."""
        out: list[tuple[int, int]] = []

        def tile(a: int, b: int, level: int) -> None:
            if a >= b:
                return
            gran = self.grans[level]
            if level == 0:
                out.extend((gran, s) for s in range(a, b, gran))
                return
            inner_lo, inner_hi = _ceil(a, gran), _floor(b, gran)
            if inner_lo >= inner_hi:
                tile(a, b, level - 1)
                return
            tile(a, inner_lo, level - 1)
            out.extend((gran, s) for s in range(inner_lo, inner_hi, gran))
            tile(inner_hi, b, level - 1)

        tile(lo, hi, len(self.grans) - 1)
        return out

    def totals(
        self,
        watch_id: str | None,
        since: datetime,
        until: datetime,
        source: str | None = None,
        lang: str | None = None,
    ) -> Op:
        """Summed counts of base buckets overlapping ``[since, until)``."""
        lo, hi = _floor(epoch(since), self.base), _ceil(epoch(until), self.base)
        pieces = self.cover(lo, hi)
        if len(pieces) > MAX_BUCKETS:
            raise ValueError("range too long")
        cmds, fetch = self._fetch(watch_id, keys.dim(source, lang), pieces)

        def parse(replies: list[Any]) -> dict[str, Any]:
            got = fetch(replies)
            tot = [sum(c[i] for c in got.values()) for i in range(len(keys.METRICS))]
            return totals_dict(*tot)

        return Op(cmds, parse)

    def recent_posts(
        self,
        watch_id: str | None,
        limit: int = 50,
        label: str | None = None,
        source: str | None = None,
        lang: str | None = None,
    ) -> Op:
        """Newest-first scored posts of a watch (``None``: overall), optionally filtered."""
        filtered = label is not None or source is not None or lang is not None
        end = self.cap - 1 if filtered else max(0, limit - 1)
        want_lang = keys.norm_lang(lang) if lang else None

        def parse(replies: list[Any]) -> list[ScoredPost]:
            out = []
            for raw in replies[0]:
                post = ScoredPost.model_validate_json(raw)
                if (
                    (label is None or post.label == label)
                    and (source is None or post.source == source)
                    and (want_lang is None or keys.norm_lang(post.lang) == want_lang)
                ):
                    out.append(post)
                    if len(out) >= limit:
                        break
            return out

        return Op([("lrange", (keys.recent_key(watch_id), 0, end), {})], parse)

    def negative_samples(
        self, watch_id: str | None, since: datetime, until: datetime, n: int
    ) -> Op:
        """The ``n`` most negative posts of the base buckets in ``[since, until)``."""
        if n <= 0:
            return Op(parse=lambda _: [])
        lo, hi = _floor(epoch(since), self.base), epoch(until)
        starts = range(lo, hi, self.base)
        if len(starts) > MAX_BUCKETS:
            raise ValueError("range too long")
        cmds: list[Command] = [
            ("zrevrange", (keys.samples_key(watch_id, s), 0, n - 1), {}) for s in starts
        ]

        def parse(replies: list[Any]) -> list[ScoredPost]:
            posts = {p.id: p for r in replies for p in map(ScoredPost.model_validate_json, r)}
            return sorted(posts.values(), key=lambda p: (-p.negativity, p.id))[:n]

        return Op(cmds, parse)

    def top_terms(self, watch_id: str | None, since: datetime, until: datetime, n: int) -> Op:
        """Most frequent explanation terms of negative posts in ``[since, until)``."""
        lo, hi = _floor(epoch(since), self.base), epoch(until)
        starts = range(lo, hi, self.base)
        if len(starts) > MAX_BUCKETS:
            raise ValueError("range too long")
        cmds: list[Command] = [
            ("zrange", (keys.terms_key(watch_id, s), 0, -1), {"withscores": True}) for s in starts
        ]

        def parse(replies: list[Any]) -> list[tuple[str, int]]:
            counts: Counter[str] = Counter()
            for reply in replies:
                for term, score in reply:
                    counts[term.decode()] += int(score)
            return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

        return Op(cmds, parse)

    def watch_ids(self) -> Op:
        """Watches that have counted at least one event."""
        return Op(
            [("zrange", (keys.FIRST_SEEN, 0, -1), {})],
            lambda replies: sorted(
                m.decode() for m in replies[0] if m.decode() != keys.OVERALL_MEMBER
            ),
        )

    def seen_range(self, watch_id: str | None) -> Op:
        """Earliest and latest event time counted for a scope, or ``None``."""
        member = keys.OVERALL_MEMBER if watch_id is None else watch_id

        def parse(replies: list[Any]) -> tuple[datetime, datetime] | None:
            lo, hi = replies
            if lo is None or hi is None:
                return None
            return from_epoch(int(lo)), from_epoch(int(hi))

        return Op(
            [
                ("zscore", (keys.FIRST_SEEN, member), {}),
                ("zscore", (keys.LAST_SEEN, member), {}),
            ],
            parse,
        )


def totals_dict(
    volume: int, negative: int, neutral: int, positive: int, negsum_millionths: int
) -> dict[str, Any]:
    """The totals shape used by ``totals()`` and ``opinion stats``."""
    negsum = negsum_millionths / keys.NEGSUM_SCALE
    return {
        "volume": volume,
        "negative": negative,
        "neutral": neutral,
        "positive": positive,
        "negative_share": round(negative / volume, 6) if volume else 0.0,
        "mean_negativity": round(negsum / volume, 6) if volume else 0.0,
    }
