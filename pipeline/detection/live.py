"""Live surge detection on event time: evaluate closed buckets, emit detector events.

``LiveDetector.evaluate(watermark)`` runs, for every watch with data, the detector over the
buckets that closed before ``watermark`` and were not evaluated yet, and hands every
``DetectorEvent`` (an incident fired, escalated or resolved) to its sink; what the sink returns
is what ``evaluate`` returns. Detection knows nothing of alerts: ``pipeline.alerting.incidents``
is the sink that turns events into alert records. Detector state lives in Redis
(``opinion:det:{w:<id>}:state``, with the start of the open incident), guarded by a per-watch
lock; events reach the sink before the state moves on, so a crash repeats them, and the sink
must be idempotent (alert ids are deterministic: watch + incident start).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import redis
from pydantic import ValidationError

from pipeline import keys
from pipeline.aggregation.bucket import epoch, from_epoch
from pipeline.aggregation.store import AggregateStore
from pipeline.config import DetectorParams, Settings
from pipeline.detection.detector import DetectorResult, Event, SpikeDetector

log = logging.getLogger(__name__)
LOCK_MS = 30_000
CHUNK_BUCKETS = 1440
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


T = TypeVar("T")


@dataclass(frozen=True)
class DetectorEvent:
    """An incident of one watch fired, escalated or resolved, on the bucket ``result`` judged.

    ``incident_start`` identifies the incident (the same on all its events); ``watch`` is the
    watch's stored configuration (name, detector overrides), ``{}`` when it was removed."""

    kind: Event
    watch_id: str
    incident_start: datetime
    result: DetectorResult
    watch: dict[str, Any]


def _open_incident(state: dict[str, Any]) -> int | None:
    """Start (epoch s) of the watch's open incident, if any."""
    if "incident" in state:
        return state["incident"]
    legacy = state.get("alert_id")  # state written before detector events: "<watch>-<start>"
    if not legacy:
        return None
    started = datetime.strptime(legacy.rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return epoch(started)


class LiveDetector(Generic[T]):
    """Evaluates closed buckets of every watch and hands each detector event to ``sink``
    (in order; a non-``None`` answer is collected by ``evaluate``)."""

    def __init__(
        self,
        settings: Settings,
        store: AggregateStore,
        client: redis.Redis,
        sink: Callable[[DetectorEvent], T | None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.redis = client
        self.sink = sink
        self.defaults = settings.detector
        self.bucket_s = settings.bucket_s
        self._next: dict[str, int] = {}  # cache: first bucket not evaluated, per watch
        self._release = client.register_script(_RELEASE)

    def watermark_from(self, max_created_at: datetime) -> datetime:
        """The watermark for the latest event time seen, minus the allowed lateness."""
        return max_created_at - timedelta(seconds=self.settings.detector_lateness_s)

    def evaluate(self, watermark: datetime) -> list[T]:
        """Judge buckets ending at or before ``watermark`` (event time; lateness already
        subtracted, see ``watermark_from``). Returns what the sink answered, in order."""
        wm = epoch(watermark)
        closed_end = wm - wm % self.bucket_s
        pending = [w for w in self.store.watch_ids() if self._next.get(w, -1) < closed_end]
        if not pending:
            return []
        configs = self._watch_configs(pending)
        out: list[T] = []
        for watch_id in pending:
            try:
                out += self._evaluate_watch(watch_id, closed_end, configs.get(watch_id, {}))
            except Exception:
                log.exception("spike detection failed for watch %s", watch_id)
        return out

    def _watch_configs(self, watch_ids: list[str]) -> dict[str, dict[str, Any]]:
        raws = self.redis.hmget(keys.WATCHES, watch_ids)
        out = {}
        for watch_id, raw in zip(watch_ids, raws, strict=True):
            try:
                out[watch_id] = json.loads(raw) if raw else {}
            except ValueError:
                out[watch_id] = {}
        return out

    def params_for(self, watch_id: str, config: dict[str, Any]) -> DetectorParams:
        """Defaults plus the watch's ``detector`` overrides (bad overrides are ignored)."""
        overrides = dict(config.get("detector") or {})
        if config.get("enabled") is False:
            overrides["enabled"] = False
        try:
            return DetectorParams.for_watch(self.defaults, overrides)
        except ValidationError as exc:
            log.warning("watch %s: invalid detector overrides ignored: %s", watch_id, exc)
            return self.defaults

    def _evaluate_watch(self, watch_id: str, closed_end: int, config: dict[str, Any]) -> list[T]:
        lock = keys.detector_lock_key(watch_id)
        token = uuid.uuid4().hex
        if not self.redis.set(lock, token, nx=True, px=LOCK_MS):
            return []  # another worker is on it
        try:
            return self._judge(watch_id, closed_end, config, lock)
        finally:
            self._release(keys=[lock], args=[token])

    def _load_state(self, watch_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(keys.detector_state_key(watch_id))
        if raw:
            return json.loads(raw)
        seen = self.store.seen_range(watch_id)
        if seen is None:
            return None
        start = epoch(seen[0])
        return {"next": start - start % self.bucket_s, "incident": None, "detector": {}}

    def _judge(self, watch_id: str, closed_end: int, config: dict[str, Any], lock: str) -> list[T]:
        """Run the watch's detector over its closed, not yet judged buckets (lock held)."""
        state = self._load_state(watch_id)
        if state is None:
            return []
        nxt = max(state["next"], closed_end - self.settings.retention_s)
        if nxt >= closed_end:
            self._next[watch_id] = nxt
            return []
        params = self.params_for(watch_id, config)
        detector = SpikeDetector(params, bucket_s=self.bucket_s, state=state["detector"])
        incident = _open_incident(state)
        out: list[T] = []
        recent = params.window_buckets * self.bucket_s if detector.last_start else 0
        while nxt < closed_end:
            end = min(closed_end, nxt + CHUNK_BUCKETS * self.bucket_s)
            series = self.store.series(
                watch_id, from_epoch(nxt - recent), from_epoch(end), self.bucket_s
            )
            if recent:  # counts of judged buckets, corrected by late posts
                detector.refresh(b for b in series if epoch(b.start) < nxt)
                recent = 0
            for bucket in (b for b in series if epoch(b.start) >= nxt):
                result = detector.update(bucket)
                if result.event == "fired":
                    incident = epoch(result.incident_start or result.start)
                elif result.event is None or incident is None:
                    continue  # escalated / resolved: only an incident this driver saw open
                answer = self.sink(
                    DetectorEvent(result.event, watch_id, from_epoch(incident), result, config)
                )
                if answer is not None:
                    out.append(answer)
                if result.event == "resolved":
                    incident = None
            nxt = end
            self.redis.pexpire(lock, LOCK_MS)
        new_state = {"next": nxt, "incident": incident, "detector": detector.to_state()}
        self.redis.set(
            keys.detector_state_key(watch_id),
            json.dumps(new_state),
            ex=self.settings.retention_s + 86_400,
        )
        self._next[watch_id] = nxt
        return out
