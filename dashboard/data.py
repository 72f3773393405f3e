"""Every Redis, Kafka and model-registry access of the dashboard, cached; pages call only this.

Clients come from ``pipeline.config.Settings`` (``OPINION_*`` env) and are cached per settings
with ``st.cache_resource``; reads are cached a few seconds with ``st.cache_data`` (writes
clear what they change), shared by every session: only data that every signed-in role may
see (roles differ in actions, not in what they see). The dashboard never reads Kafka: it
only publishes labels.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import redis
import streamlit as st
from kafka import KafkaProducer

from dashboard.labelqueue import QueueItem, build_queue, find_item
from pipeline.aggregation.bucket import Bucket
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.deliveries import DeliveryStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.kafka_io import producer
from pipeline.keys import DASHBOARD_LABELED as LABELED_KEY
from pipeline.keys import DASHBOARD_LABELS_BY_USER as LABELS_BY_USER_KEY
from pipeline.label_signing import sign
from pipeline.model import BUNDLED_EN, resolve_model_dir
from pipeline.model.card import ModelCard
from pipeline.model.registry import ModelRegistry
from pipeline.redis_io import redis_client
from pipeline.schemas import SENTIMENT_LABELS, Alert, AlertState, Label, ScoredPost, SentimentLabel
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore

log = logging.getLogger(__name__)

TTL_S = 5
MODEL_TTL_S = 30
QUEUE_POSTS_PER_WATCH = 100
ALERT_SCAN = 500
ALL_STATES: tuple[AlertState, ...] = ("firing", "acknowledged", "resolved")


_KEYS: dict[int, tuple[Settings, str]] = {}
"""Cache keys of the settings objects seen lately, by ``id`` (each entry keeps its object
alive, so the id cannot be reused while it is here)."""


def _settings_key(settings: Settings) -> str:
    """The cache key of ``settings`` (every cached read hashes it; ``settings()`` hands out
    one object until the environment changes, so this is computed once per object)."""
    known = _KEYS.get(id(settings))
    if known is None or known[0] is not settings:
        if len(_KEYS) >= 64:
            _KEYS.clear()
        known = _KEYS[id(settings)] = (settings, json.dumps(settings.to_env(), sort_keys=True))
    return known[1]


HASH_FUNCS: dict[Any, Any] = {Settings: _settings_key}


_SETTINGS: dict[tuple[Any, ...], Settings] = {}
"""The last settings read, by ``_settings_source`` (``Settings`` is frozen: safe to share)."""


def _settings_source() -> tuple[Any, ...]:
    """What ``Settings()`` reads: the ``OPINION_*`` environment and the working dir's ``.env``."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("OPINION_")))
    try:
        stat = os.stat(".env")
        dotenv: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        dotenv = None
    return os.getcwd(), env, dotenv


def settings() -> Settings:
    """The dashboard's settings from the environment (and ``.env``), checked on each run and
    parsed again only when those changed (parsing costs ~10 ms a run)."""
    source = _settings_source()
    found = _SETTINGS.get(source)
    if found is None:
        found = Settings()
        _SETTINGS.clear()
        _SETTINGS[source] = found
    return found


# --- clients ------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False, hash_funcs=HASH_FUNCS)
def redis_connection(s: Settings) -> redis.Redis:
    """The dashboard's Redis client for ``s`` (one per settings, shared by every session)."""
    return redis_client(s)


@st.cache_resource(show_spinner=False, hash_funcs=HASH_FUNCS)
def _producer(s: Settings) -> KafkaProducer:
    return producer(s, linger_ms=0, retries=3)


def _aggregates(s: Settings) -> AggregateStore:
    return AggregateStore(redis_connection(s), s)


def _alerts(s: Settings) -> AlertStore:
    return AlertStore(redis_connection(s), s)


# --- watches ------------------------------------------------------------------------------
@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def watches(s: Settings) -> list[Watch]:
    """Every watch, by id."""
    return WatchStore(redis_connection(s)).all()


@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def broken_watches(s: Settings) -> dict[str, str]:
    """Watches in Redis that workers skip (id -> why): invalid, or a query over the limits."""
    return WatchStore(redis_connection(s)).broken()


@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def watch_ids_with_data(s: Settings) -> list[str]:
    """Watches that have counted posts."""
    return _aggregates(s).watch_ids()


def save_watch(s: Settings, watch: Watch) -> None:
    """Create or replace a watch (workers pick it up on their next reload)."""
    WatchStore(redis_connection(s)).put(watch)
    watches.clear()


def set_watch_enabled(s: Settings, watch_id: str, enabled: bool) -> Watch | None:
    store = WatchStore(redis_connection(s))
    watch = store.get(watch_id)
    if watch is None:
        return None
    updated = watch.model_copy(update={"enabled": enabled})
    store.put(updated)
    watches.clear()
    return updated


# --- aggregates ---------------------------------------------------------------------------
@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def latest_event_time(s: Settings, watch_id: str | None = None) -> datetime | None:
    """Event time of the newest counted post (``None``: nothing counted yet)."""
    seen = _aggregates(s).seen_range(watch_id)
    return seen[1] if seen else None


SERIES_COLUMNS = ["time", "watch", "source", "series", "volume", "negative", "negative_share"]


def _sources(by_source: bool) -> tuple[str | None, ...]:
    return ("social", "news") if by_source else (None,)


def _series_rows(watch_id: str, source: str | None, buckets: list[Bucket]) -> list[dict]:
    """``series_frame`` rows of one watch (and source)."""
    return [
        {
            "time": b.start,
            "watch": watch_id,
            "source": source or "all",
            "series": f"{watch_id} · {source}" if source else watch_id,
            "volume": b.volume,
            "negative": b.negative,
            "negative_share": b.negative_share,
        }
        for b in buckets
    ]


@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def series_frame(
    s: Settings,
    watch_ids: tuple[str, ...],
    since: datetime,
    until: datetime,
    granularity_s: int,
    by_source: bool = False,
) -> pd.DataFrame:
    """Long table of buckets: time, watch, source, series, volume, negative, negative_share."""
    store = _aggregates(s)
    rows: list[dict[str, Any]] = []
    for watch_id in watch_ids:
        for source in _sources(by_source):
            buckets = store.series(watch_id, since, until, granularity_s, source=source)
            rows += _series_rows(watch_id, source, buckets)
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


@dataclass(frozen=True)
class OverviewCounts:
    """What Overview counts for a window: totals overall, per watch over the last hour and
    the whole range, and the series of every watch (and source)."""

    overall: dict[str, Any]
    last_hour: dict[str, dict[str, Any]]
    whole: dict[str, dict[str, Any]]
    series: pd.DataFrame


def overview_counts(
    s: Settings,
    watch_ids: tuple[str, ...],
    since: datetime,
    until: datetime,
    current_since: datetime,
    granularity_s: int,
    by_source: bool,
) -> OverviewCounts:
    """Every aggregate Overview shows, in one Redis round trip. Not cached here: the view built
    from it is (``dashboard.overview_model``)."""
    plans = _aggregates(s).plans
    lines = [(w, source) for w in watch_ids for source in _sources(by_source)]
    ops = [plans.totals(None, since, until)]
    ops += [plans.totals(w, current_since, until) for w in watch_ids]
    ops += [plans.totals(w, since, until) for w in watch_ids]
    ops += [plans.series(w, since, until, granularity_s, source) for w, source in lines]
    overall, *rest = _aggregates(s).read_many(ops)
    n = len(watch_ids)
    rows = [row for (w, source), b in zip(lines, rest[2 * n :], strict=True)
            for row in _series_rows(w, source, b)]  # fmt: skip
    return OverviewCounts(
        overall=overall,
        last_hour=dict(zip(watch_ids, rest[:n], strict=True)),
        whole=dict(zip(watch_ids, rest[n : 2 * n], strict=True)),
        series=pd.DataFrame(rows, columns=SERIES_COLUMNS),
    )


@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def totals(s: Settings, watch_id: str | None, since: datetime, until: datetime) -> dict[str, Any]:
    """Summed counts of a watch (``None``: overall) in ``[since, until)``."""
    return _aggregates(s).totals(watch_id, since, until)


@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def recent_posts(
    s: Settings,
    watch_id: str | None,
    limit: int = 50,
    label: str | None = None,
    source: str | None = None,
    lang: str | None = None,
) -> list[ScoredPost]:
    """Newest-first masked posts kept for drill-down (``None``: all watches)."""
    return _aggregates(s).recent_posts(watch_id, limit, label=label, source=source, lang=lang)


@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def top_terms(
    s: Settings, watch_id: str | None, since: datetime, until: datetime, n: int = 10
) -> list[tuple[str, int]]:
    return _aggregates(s).top_terms(watch_id, since, until, n)


# --- alerts -------------------------------------------------------------------------------
@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def alerts(
    s: Settings, states: tuple[AlertState, ...] = ALL_STATES, limit: int = 100
) -> list[Alert]:
    """Newest-first alerts in any of ``states``."""
    wanted = set(states)
    out = [a for a in _alerts(s).list(limit=ALERT_SCAN) if a.state in wanted]
    return out[:limit]


def alert_periods(
    s: Settings, watch_ids: Iterable[str], since: datetime, until: datetime
) -> pd.DataFrame:
    """Alert periods overlapping the range (open ones extend to ``until``), for shading."""
    wanted = set(watch_ids)
    rows = []
    for a in alerts(s, ALL_STATES, ALERT_SCAN):
        end = a.resolved_at or until
        start = min(a.window_start, a.created_at)
        if a.watch_id in wanted and start < until and end > since:
            rows.append(
                {
                    "start": max(start, since),
                    "end": min(end, until),
                    "watch": a.watch_id,
                    "severity": a.severity,
                    "state": a.state,
                }
            )
    return pd.DataFrame(rows, columns=["start", "end", "watch", "severity", "state"])


def acknowledge_alert(s: Settings, alert_id: str, user: str) -> Alert | None:
    """Acknowledge; ``None`` when it was already acknowledged or resolved."""
    try:
        return _alerts(s).ack(alert_id, by=user)
    finally:
        alerts.clear()


def resolve_alert(s: Settings, alert_id: str, user: str) -> Alert | None:
    """Resolve; ``None`` when it already was."""
    try:
        return _alerts(s).resolve(alert_id, by=user)
    finally:
        alerts.clear()


@st.cache_data(ttl=TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def alert_deliveries(s: Settings, alert_id: str) -> list[dict[str, Any]]:
    """The deliveries of one alert (channel, event, state pending/parked/sent, attempts,
    last error, times as epoch seconds), by event then channel."""
    return [d.as_dict() for d in DeliveryStore(redis_connection(s), s).for_alert(alert_id)]


def requeue_delivery(s: Settings, delivery_id: str) -> bool:
    """Make a parked delivery due again; ``False`` when it is not parked."""
    try:
        return DeliveryStore(redis_connection(s), s).requeue(delivery_id)
    finally:
        alert_deliveries.clear()


# --- labeling -----------------------------------------------------------------------------
def labeled_ids(s: Settings) -> set[str]:
    return {m.decode() for m in redis_connection(s).smembers(LABELED_KEY)}


def label_progress(s: Settings, user: str) -> tuple[int, int]:
    """(labels by ``user``, labels by everyone) so far."""
    r = redis_connection(s)
    mine = r.hget(LABELS_BY_USER_KEY, user)
    return int(mine or 0), int(r.scard(LABELED_KEY))


def label_queue(
    s: Settings, *, threshold: float, skipped: set[str], limit: int = 200
) -> list[QueueItem]:
    """Posts worth labeling (see ``dashboard.labelqueue``), minus labeled and skipped ones."""
    posts: dict[str, ScoredPost] = {}
    for watch_id in (None, *watch_ids_with_data(s)):
        size = s.recent_posts_per_watch if watch_id is None else QUEUE_POSTS_PER_WATCH
        for post in recent_posts(s, watch_id, size):
            posts.setdefault(post.id, post)
    return build_queue(
        posts.values(),
        alerts(s, ("firing", "acknowledged"), ALERT_SCAN),
        exclude=labeled_ids(s) | skipped,
        threshold=threshold,
        limit=limit,
    )


class UnknownPost(ValueError):
    """A label for a post the monitor does not hold (not a kept scored post nor an alert
    sample): nothing is published."""


def find_post(s: Settings, post_id: str) -> QueueItem | None:
    """The monitor's own copy of ``post_id``, from what the label queue shows."""
    posts: list[ScoredPost] = []
    for watch_id in (None, *watch_ids_with_data(s)):
        size = s.recent_posts_per_watch if watch_id is None else QUEUE_POSTS_PER_WATCH
        posts += recent_posts(s, watch_id, size)
    return find_item(posts, alerts(s, ALL_STATES, ALERT_SCAN), post_id)


def _warn_unsigned_once() -> None:
    global _warned_unsigned
    if not _warned_unsigned:
        _warned_unsigned = True
        log.warning(
            "OPINION_LABEL_SIGNING_KEY is not set: labels are published unsigned, and "
            "`opinion train` refuses them unless run with --accept-unsigned"
        )


_warned_unsigned = False


def publish_label(
    s: Settings, post_id: str, label: SentimentLabel, user: str, timeout_s: float = 10.0
) -> Label:
    """Label ``post_id`` as ``user`` says: built from the monitor's own copy of the post (never
    text from the caller), stamped now (UTC), signed with ``OPINION_LABEL_SIGNING_KEY``; sent
    to the labels topic (waits for the ack), then the post id is remembered.

    Raises ``UnknownPost`` (nothing published) when the monitor does not hold the post."""
    item = find_post(s, post_id)
    if item is None:
        raise UnknownPost(
            f"post {post_id!r} is not one the monitor scored (or it has aged out of the "
            "recent posts and alert samples): refresh the queue and label another"
        )
    record = Label(
        post_id=item.post_id,
        text=item.text,
        label=label,
        lang=item.lang,
        labeled_by=user,
        labeled_at=datetime.now(UTC),
        model_label=item.model_label if item.model_label in SENTIMENT_LABELS else None,  # type: ignore[arg-type]
        model_version=item.model_version,
    )
    key = s.resolved_label_signing_key()
    if key is not None:
        record = sign(record, key)
    else:
        _warn_unsigned_once()
    future = _producer(s).send(
        s.topic("labels"), key=record.post_id.encode(), value=record.to_bytes()
    )
    future.get(timeout=timeout_s)
    pipe = redis_connection(s).pipeline(transaction=False)
    pipe.sadd(LABELED_KEY, record.post_id)
    pipe.hincrby(LABELS_BY_USER_KEY, record.labeled_by, 1)
    pipe.execute()
    return record


# --- model --------------------------------------------------------------------------------
def _card(path: Any) -> dict[str, Any] | None:
    try:
        card = ModelCard.load(path)
    except (OSError, ValueError):
        return None
    return card.model_dump() if card else None


@st.cache_data(ttl=MODEL_TTL_S, show_spinner=False, hash_funcs=HASH_FUNCS)
def model_overview(s: Settings) -> dict[str, Any]:
    """The model in use (and where it comes from), registry versions and the last retrain."""
    registry = ModelRegistry(s.registry_dir)
    current = registry.current_version()
    in_use = resolve_model_dir(s)
    if s.model_dir is not None:
        origin = "OPINION_MODEL_DIR"
    elif current is not None:
        origin = "registry"
    else:
        origin = "bundled" if in_use == BUNDLED_EN else "checkpoint"
    versions = []
    for version in registry.versions():
        card = _card(registry.path(version)) or {}
        versions.append(
            {
                "version": version,
                "current": version == current,
                "created_at": card.get("created_at"),
                "base_model": card.get("base_model"),
                "metrics": card.get("metrics") or {},
            }
        )
    retrained = [v["created_at"] for v in versions if v["created_at"]]
    return {
        "origin": origin,
        "path": str(in_use),
        "card": _card(in_use),
        "registry_dir": str(s.registry_dir),
        "current": current,
        "previous": registry.previous(),
        "versions": versions,
        "last_retrain": max(retrained) if retrained else None,
    }
