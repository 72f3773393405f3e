"""Live surge detection on event time: evaluate closed buckets; open, escalate, resolve alerts.

``LiveDetector.evaluate(watermark)`` runs, for every watch with data, the detector over the
buckets that closed before ``watermark`` and were not evaluated yet. Detector state lives in
Redis (``opinion:det:{w:<id>}:state``), guarded by a per-watch lock, and alert ids are
deterministic (watch + incident start) and created with HSETNX, so restarts and concurrent
workers never open two alerts for one incident.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import redis
from pydantic import ValidationError

from pipeline import keys
from pipeline.aggregation.bucket import epoch, from_epoch
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertEvent, AlertStore
from pipeline.config import Settings
from pipeline.detection.detector import DetectorParams, DetectorResult, SpikeDetector
from pipeline.schemas import Alert, AlertReason
from pipeline.watches.store import WATCHES_KEY

log = logging.getLogger(__name__)
LOCK_MS = 30_000
CHUNK_BUCKETS = 1440
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


def reasons_for(result: DetectorResult) -> list[AlertReason]:
    """Observed vs expected over the incident, for each kind the alert names."""
    values = {
        "negative_share": (result.incident_share, result.baseline_share),
        "negative_volume": (result.incident_negative, result.incident_expected_negative),
        "volume": (result.incident_volume, result.incident_expected_volume),
    }
    out = []
    for kind in result.kinds:
        observed, expected = values[kind]
        out.append(
            AlertReason(
                kind=kind,
                observed=round(observed, 4),
                expected=round(expected, 4),
                ratio=round(observed / max(expected, 1e-3), 3),
            )
        )
    return out


class AlertChange(NamedTuple):
    """What one evaluation did to an alert (its deliveries are in the outbox already)."""

    event: AlertEvent
    alert: Alert


def alert_id_for(watch_id: str, incident_start: datetime) -> str:
    """Deterministic: one id per (watch, incident start)."""
    return f"{watch_id}-{incident_start:%Y%m%dT%H%M%SZ}"


class LiveDetector:
    """Evaluates closed buckets of every watch; returns alerts opened and resolved."""

    def __init__(
        self,
        settings: Settings,
        store: AggregateStore,
        client: redis.Redis,
        alerts: AlertStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.redis = client
        self.alerts = alerts or AlertStore(client, settings)
        self.defaults = DetectorParams.from_settings(settings)
        self.bucket_s = settings.bucket_s
        self._next: dict[str, int] = {}  # cache: first bucket not evaluated, per watch
        self._release = client.register_script(_RELEASE)

    def watermark_from(self, max_created_at: datetime) -> datetime:
        """The watermark for the latest event time seen, minus the allowed lateness."""
        return max_created_at - timedelta(seconds=self.settings.detector_lateness_s)

    def evaluate(self, watermark: datetime) -> list[AlertChange]:
        """Judge buckets ending at or before ``watermark`` (event time; lateness already
        subtracted, see ``watermark_from``). Returns what it did to alerts: opened,
        escalated, resolved."""
        wm = epoch(watermark)
        closed_end = wm - wm % self.bucket_s
        pending = [w for w in self.store.watch_ids() if self._next.get(w, -1) < closed_end]
        if not pending:
            return []
        configs = self._watch_configs(pending)
        out: list[AlertChange] = []
        for watch_id in pending:
            try:
                out += self._evaluate_watch(watch_id, closed_end, configs.get(watch_id, {}))
            except Exception:
                log.exception("spike detection failed for watch %s", watch_id)
        return out

    def _watch_configs(self, watch_ids: list[str]) -> dict[str, dict[str, Any]]:
        raws = self.redis.hmget(WATCHES_KEY, watch_ids)
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

    def _evaluate_watch(
        self, watch_id: str, closed_end: int, config: dict[str, Any]
    ) -> list[AlertChange]:
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
        return {"next": start - start % self.bucket_s, "alert_id": None, "detector": {}}

    def _judge(
        self, watch_id: str, closed_end: int, config: dict[str, Any], lock: str
    ) -> list[AlertChange]:
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
        alert_id = state.get("alert_id")
        out: list[AlertChange] = []
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
                    alert, created = self._open(watch_id, config, result)
                    alert_id = alert.id
                    if created:
                        out.append(AlertChange("opened", alert))
                elif result.event == "escalated" and alert_id:
                    escalated = self.alerts.escalate(alert_id, self._escalation(result))
                    if escalated is not None:
                        out.append(AlertChange("escalated", escalated))
                elif result.event == "resolved" and alert_id:
                    at = result.start + timedelta(seconds=self.bucket_s)
                    updated = self.alerts.resolve(alert_id, by="detector", at=at)
                    if updated is not None:
                        out.append(AlertChange("resolved", updated))
                    alert_id = None
            nxt = end
            self.redis.pexpire(lock, LOCK_MS)
        new_state = {"next": nxt, "alert_id": alert_id, "detector": detector.to_state()}
        self.redis.set(
            keys.detector_state_key(watch_id),
            json.dumps(new_state),
            ex=self.settings.retention_s + 86_400,
        )
        self._next[watch_id] = nxt
        return out

    @staticmethod
    def _escalation(result: DetectorResult) -> dict[str, Any]:
        """What an escalated incident changes in its alert."""
        return {
            "severity": result.severity or "low",
            "kinds": list(result.kinds),
            "reasons": reasons_for(result),
            "score": max(result.score, 0.5),
        }

    def _open(
        self, watch_id: str, config: dict[str, Any], result: DetectorResult
    ) -> tuple[Alert, bool]:
        s = self.settings
        start = result.incident_start or result.start
        end = result.start + timedelta(seconds=self.bucket_s)
        share = result.incident_share
        terms = self.store.top_terms(watch_id, start, end, s.alert_top_terms)
        negatives = self.store.negative_samples(watch_id, start, end, s.alert_sample_posts)
        alert_id = alert_id_for(watch_id, start)
        alert = Alert(
            id=alert_id,
            watch_id=watch_id,
            watch_name=str(config.get("name") or watch_id),
            severity=result.severity or "low",
            score=result.score,
            window_start=start,
            window_end=end,
            negative_share=round(share, 4),
            baseline_share=round(result.baseline_share, 4),
            volume=result.incident_volume,
            kinds=list(result.kinds),
            reasons=reasons_for(result),
            top_terms=[t for t, _ in terms],
            sample_posts=[
                {
                    "id": p.id,
                    "created_at": p.created_at.isoformat(),
                    "source": p.source,
                    "lang": p.lang,
                    "text": p.text,
                    "url": p.url,
                    "negativity": round(p.negativity, 4),
                }
                for p in negatives
            ],
            dashboard_url=f"{s.dashboard_url.rstrip('/')}/?watch={watch_id}&alert={alert_id}",
        )
        return alert, self.alerts.open(alert)
