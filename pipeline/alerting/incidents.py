"""Detector events become alert records: open, escalate, resolve (the live detector's sink).

``IncidentAlerts`` is called with each ``DetectorEvent`` of ``pipeline.detection.live`` and
writes the alert (and, through ``AlertStore``, its deliveries to the outbox) in Redis. Alert
ids are deterministic (watch + incident start) and opened with HSETNX, so a repeated event
(a crash before the detector state was saved, two workers) never opens a second alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

import redis

from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertEvent, AlertStore
from pipeline.config import Settings
from pipeline.detection.detector import DetectorResult
from pipeline.detection.live import DetectorEvent, LiveDetector
from pipeline.schemas import Alert, AlertReason


class AlertChange(NamedTuple):
    """What one event did to an alert (its deliveries are in the outbox already)."""

    event: AlertEvent
    alert: Alert


def alert_id_for(watch_id: str, incident_start: datetime) -> str:
    """Deterministic: one id per (watch, incident start)."""
    return f"{watch_id}-{incident_start:%Y%m%dT%H%M%SZ}"


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


class IncidentAlerts:
    """The sink of ``LiveDetector``: one alert per incident, kept in step with its events."""

    def __init__(self, settings: Settings, store: AggregateStore, alerts: AlertStore) -> None:
        self.settings = settings
        self.store = store
        self.alerts = alerts

    def __call__(self, event: DetectorEvent) -> AlertChange | None:
        alert_id = alert_id_for(event.watch_id, event.incident_start)
        result = event.result
        if event.kind == "fired":
            alert = self._alert(event, alert_id)
            return AlertChange("opened", alert) if self.alerts.open(alert) else None
        if event.kind == "escalated":
            escalated = self.alerts.escalate(
                alert_id,
                {
                    "severity": result.severity or "low",
                    "kinds": list(result.kinds),
                    "reasons": reasons_for(result),
                    "score": max(result.score, 0.5),
                },
            )
            return None if escalated is None else AlertChange("escalated", escalated)
        at = result.start + timedelta(seconds=self.settings.bucket_s)
        resolved = self.alerts.resolve(alert_id, by="detector", at=at)
        return None if resolved is None else AlertChange("resolved", resolved)

    def _alert(self, event: DetectorEvent, alert_id: str) -> Alert:
        s, result, watch_id = self.settings, event.result, event.watch_id
        start = event.incident_start
        end = result.start + timedelta(seconds=s.bucket_s)
        terms = self.store.top_terms(watch_id, start, end, s.alert_top_terms)
        negatives = self.store.negative_samples(watch_id, start, end, s.alert_sample_posts)
        return Alert(
            id=alert_id,
            watch_id=watch_id,
            watch_name=str(event.watch.get("name") or watch_id),
            severity=result.severity or "low",
            score=result.score,
            window_start=start,
            window_end=end,
            negative_share=round(result.incident_share, 4),
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


def alerting_detector(
    settings: Settings, store: AggregateStore, client: redis.Redis
) -> LiveDetector[AlertChange]:
    """The live detector wired to alert records in the same Redis."""
    sink = IncidentAlerts(settings, store, AlertStore(client, settings))
    return LiveDetector(settings, store, client, sink)
