"""Every Redis key the monitor uses, in one place (see docs/alerting.md for the aggregate scheme).

Every key starts with ``opinion:`` (the least-privilege ACL in SECURITY.md grants
``~opinion:*``). Keys that one atomic step touches together share a hash tag so they live in
one Redis Cluster slot: every key of one watch carries ``{w:<watch_id>}``, every overall key
``{all}``, every alert key ``{alerts}``.

Bucket counters are hashes, one per (scope, granularity, dimension, day-partition); a field is
``<bucket_start_epoch>:<metric>`` with metric ``v`` volume, ``n`` negative, ``u`` neutral,
``p`` positive, ``s`` sum of negativity in millionths (an integer, so sums are exact and
independent of event order).
"""

from __future__ import annotations

import re

ROOT = "opinion"

# --- intake (pipeline.worker): re-delivery, reposts, poison messages, event-time progress
REPOST_PREFIX = f"{ROOT}:repost:"
"""``<REPOST_PREFIX><keyed text hash>``: ``id|event-time|input position`` of the first post
with this text within the dedup window (reposts, and a post sent twice by a producer)."""
ATTEMPTS_PREFIX = f"{ROOT}:attempts:"
"""``<ATTEMPTS_PREFIX><group>:<topic>:<partition>:<offset>``: deliveries of a message that killed a
worker (poison-message counter)."""
WATERMARKS = f"{ROOT}:watermarks"
"""Hash: ``<topic>:<partition>`` -> ``event time|wall time|next offset`` of what the workers
finished (per-field maxima): the event-time watermark, and re-deliveries to skip."""
HIGHWATERS = f"{ROOT}:highwaters"
"""Hash: ``<topic>:<partition>`` -> highest event time seen (per-field maximum)."""

# --- watches (pipeline.watches)
WATCHES = f"{ROOT}:watches"
"""Hash: watch id -> watch JSON."""
WATCHES_VERSION = ROOT + ":{" + WATCHES + "}:version"
"""Counter incremented with every watch change in the same MULTI (same slot as WATCHES: its
whole name is the hash tag)."""

# --- aggregation (pipeline.aggregation)
AGG = f"{ROOT}:agg"
FIRST_SEEN = f"{AGG}:first_seen"
"""Sorted set: member = watch id (or ``*`` for overall), score = earliest event time seen."""
LAST_SEEN = f"{AGG}:last_seen"
"""Sorted set: member = watch id (or ``*`` for overall), score = latest event time seen."""
OVERALL_MEMBER = "*"

METRICS = ("v", "n", "u", "p", "s")
"""Field suffixes: volume, negative, neutral, positive, negativity sum (millionths)."""
LABEL_METRIC = {"negative": "n", "neutral": "u", "positive": "p"}
NEGSUM_SCALE = 1_000_000

# --- alerting (pipeline.alerting)
ALERT_TAG = "{alerts}"
"""Hash tag of every alert key: an alert, its index entry, stream record and deliveries are
written in one MULTI/EXEC, which Redis Cluster allows only within one slot."""
ALERTS = f"{ROOT}:{ALERT_TAG}"
ALERT_INDEX = f"{ALERTS}:index"
"""Sorted set: alert id by creation time."""
ALERT_STREAM = f"{ALERTS}:stream"
"""Default of ``settings.alert_stream_key`` (a custom key must keep the ``{alerts}`` tag)."""
OUTBOX = f"{ALERTS}:outbox"
OUTBOX_DELIVERIES = f"{OUTBOX}:deliveries"
"""Hash: delivery id -> JSON record (channel, event, state, attempts, last error, times)."""
OUTBOX_PAYLOADS = f"{OUTBOX}:payloads"
"""Hash: delivery id -> the alert JSON to send (dropped once sent)."""
OUTBOX_PARKED = f"{OUTBOX}:parked"
"""Sorted set: parked (permanently failed) delivery ids by parking time."""
OUTBOX_CHANNELS = f"{OUTBOX}:channels"
"""Set: every channel name a delivery was ever queued for."""

_UNSAFE = re.compile(r"[^a-z0-9_-]")


def tag(watch_id: str | None) -> str:
    """The hash tag of a scope: ``{w:<id>}`` for a watch, ``{all}`` for overall."""
    return "{all}" if watch_id is None else "{w:" + watch_id + "}"


def scope(watch_id: str | None) -> str:
    """Common prefix of a scope's aggregation keys."""
    return f"{AGG}:{tag(watch_id)}"


def norm_lang(lang: str | None) -> str:
    """Language code as used in keys: lowercase, ``[a-z0-9_-]``, ``und`` when unknown."""
    value = _UNSAFE.sub("", (lang or "").strip().lower())[:16]
    return value or "und"


def dim(source: str | None = None, lang: str | None = None) -> str:
    """Dimension name: ``all``, ``s:<source>``, ``l:<lang>`` or ``s:<source>|l:<lang>``."""
    parts = []
    if source:
        parts.append(f"s:{source}")
    if lang:
        parts.append(f"l:{norm_lang(lang)}")
    return "|".join(parts) or "all"


def event_dims(source: str, lang: str) -> tuple[str, ...]:
    """Every dimension one event counts in."""
    return (dim(), dim(source), dim(lang=lang), dim(source, lang))


def partition_span(granularity_s: int) -> int:
    """Width of one hash partition for a granularity: about a day, a multiple of it."""
    return granularity_s * max(1, 86_400 // granularity_s)


def partition(bucket_start: int, granularity_s: int) -> int:
    """Start of the partition holding a bucket."""
    return bucket_start - bucket_start % partition_span(granularity_s)


def bucket_key(watch_id: str | None, granularity_s: int, dimension: str, part: int) -> str:
    """Hash of counters for one scope/granularity/dimension/partition."""
    return f"{scope(watch_id)}:b:{granularity_s}:{dimension}:{part}"


def field(bucket_start: int, metric: str) -> str:
    return f"{bucket_start}:{metric}"


def input_field(topic: str, partition: int) -> str:
    """Field naming one input partition (``WATERMARKS``, ``offsets_key``)."""
    return f"{input_fields_prefix(topic)}{partition}"


def input_fields_prefix(topic: str) -> str:
    """What every ``input_field`` of ``topic`` starts with (forgetting a topic's offsets)."""
    return f"{topic}:"


def offsets_key(watch_id: str | None) -> str:
    """Hash: input partition -> highest offset counted in this scope (a re-delivered event
    at or below it is not counted again): one field per scope and partition."""
    return f"{scope(watch_id)}:offsets"


def marker_key(watch_id: str | None, event_id: str) -> str:
    """Idempotency marker of an event counted without an input position (tools, tests)."""
    return f"{scope(watch_id)}:seen:{event_id}"


def terms_key(watch_id: str | None, bucket_start: int) -> str:
    """Sorted set of explanation terms of negative posts in one base bucket."""
    return f"{scope(watch_id)}:terms:{bucket_start}"


def samples_key(watch_id: str | None, bucket_start: int) -> str:
    """Sorted set of the most negative posts (JSON) of one base bucket, by negativity."""
    return f"{scope(watch_id)}:samples:{bucket_start}"


def recent_key(watch_id: str | None) -> str:
    """Capped list of recent scored posts (JSON, newest first)."""
    return f"{scope(watch_id)}:recent"


def detector_state_key(watch_id: str) -> str:
    """JSON state of the live spike detector of a watch."""
    return f"{ROOT}:det:{tag(watch_id)}:state"


def detector_lock_key(watch_id: str) -> str:
    """Short lock held while one worker evaluates a watch."""
    return f"{ROOT}:det:{tag(watch_id)}:lock"


def alert_key(alert_id: str) -> str:
    """Hash holding one alert (``json``, ``state``, ``watch_id``, ``resolved_by``)."""
    return f"{ALERTS}:alert:{alert_id}"


def outbox_due_key(channel: str) -> str:
    """Sorted set: a channel's pending delivery ids by due time (claimed: lease end)."""
    return f"{OUTBOX}:due:{channel}"


# --- dashboard
DASHBOARD_ACCOUNTS = f"{ROOT}:dashboard:accounts"
"""Hash: user name -> account JSON (role, password hash, created_at)."""
DASHBOARD_LABELED = f"{ROOT}:dashboard:labeled"
"""Set of post ids already labeled (the queue hides them)."""
DASHBOARD_LABELS_BY_USER = f"{ROOT}:dashboard:labels:by_user"
"""Hash: analyst -> labels submitted."""
LOGIN_LIMIT_PREFIX = f"{ROOT}:dashboard:{{login}}"
"""``<prefix>:tries:<subject>`` (sorted set: try token by time, ms) and
``<prefix>:lock:<subject>`` (string with the lockout's TTL); subject ``u:<user>`` or
``a:<address>``."""
