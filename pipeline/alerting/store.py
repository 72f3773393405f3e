"""Alert state in Redis: one hash per alert, an index, the stream the dashboard reads, and the
deliveries that announce each change (``pipeline.alerting.deliveries``).

Every change (opened, escalated, acknowledged, resolved) updates the alert's hash under the same id,
appends one record to ``settings.alert_stream_key`` with fields ``id``, ``event``, ``state``,
``watch_id``, ``by``, ``at`` and ``alert`` (the full alert JSON), and queues one delivery per
channel that wants the event, all in one MULTI/EXEC: a crash never leaves an alert without
its stream record or its deliveries. Every key shares the ``{alerts}`` hash tag.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, NamedTuple

import redis
from redis.exceptions import WatchError

from pipeline import keys
from pipeline.alerting.deliveries import DeliveryStore
from pipeline.config import Settings
from pipeline.schemas import SEVERITIES, Alert, AlertState, utc_now

AlertEvent = Literal["opened", "escalated", "acknowledged", "resolved"]
LIST_SCAN = 2000


def _grew(before: Alert, after: Alert) -> bool:
    """A higher severity, or kinds the alert did not name yet."""
    higher = SEVERITIES.index(after.severity) > SEVERITIES.index(before.severity)
    return higher or not set(after.kinds) <= set(before.kinds)


class Change(NamedTuple):
    """An alert after a change, the event that announces it, and extra hash fields."""

    alert: Alert
    event: AlertEvent
    fields: dict[str, str]


class AlertNotFound(KeyError):
    """No alert with that id."""


class AlertStore:
    """Create, read and update alerts on a sync Redis client."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self.deliveries = DeliveryStore(client, settings)

    def _record(self, pipe: Any, alert: Alert, event: AlertEvent, by: str | None) -> None:
        """Queue the stream record, index entry and deliveries of a change (in a MULTI)."""
        pipe.xadd(
            self.settings.alert_stream_key,
            {
                "id": alert.id,
                "event": event,
                "state": alert.state,
                "watch_id": alert.watch_id,
                "by": by or "",
                "at": alert.updated_at.isoformat(),
                "alert": alert.model_dump_json(),
            },
            maxlen=self.settings.alert_stream_maxlen,
            approximate=True,
        )
        pipe.zadd(keys.ALERT_INDEX, {alert.id: alert.created_at.timestamp()})
        self.deliveries.queue(pipe, alert, self.deliveries.plan(alert, event))

    def open(self, alert: Alert) -> bool:
        """Store a new alert with its stream record and deliveries, atomically; ``False``
        (and nothing written) when the id already exists."""
        key = keys.alert_key(alert.id)
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                if pipe.exists(key):
                    return False
                pipe.multi()
                fields = {"json": alert.model_dump_json(), "state": alert.state}
                pipe.hset(key, mapping=fields | {"watch_id": alert.watch_id})
                self._record(pipe, alert, "opened", None)
                pipe.execute()
            except WatchError:  # created meanwhile by another worker
                return False
        return True

    def get(self, alert_id: str) -> Alert | None:
        raw = self.redis.hget(keys.alert_key(alert_id), "json")
        return Alert.model_validate_json(raw) if raw else None

    def list(
        self, state: AlertState | None = None, watch_id: str | None = None, limit: int = 50
    ) -> list[Alert]:
        """Newest first, optionally only one state and/or watch."""
        ids = self.redis.zrevrange(keys.ALERT_INDEX, 0, LIST_SCAN - 1)
        pipe = self.redis.pipeline(transaction=False)
        for alert_id in ids:
            pipe.hget(keys.alert_key(alert_id.decode()), "json")
        out = []
        for raw in pipe.execute() if ids else []:
            if raw is None:
                continue
            alert = Alert.model_validate_json(raw)
            if (state is None or alert.state == state) and (
                watch_id is None or alert.watch_id == watch_id
            ):
                out.append(alert)
                if len(out) >= limit:
                    break
        return out

    def escalate(self, alert_id: str, changes: dict[str, Any]) -> Alert | None:
        """Raise an open alert's severity or widen its kinds (``changes``: new ``severity``,
        ``kinds``, ``reasons``, ``score``); ``None`` when it is resolved or would not grow.
        Re-notifies every channel whose minimum severity the alert now reaches."""

        def grow(alert: Alert) -> Change | None:
            updated = alert.model_copy(update={**changes, "updated_at": utc_now()})
            if alert.state == "resolved" or not _grew(alert, updated):
                return None
            return Change(updated, "escalated", {})

        return self._apply(alert_id, grow, None)

    def ack(self, alert_id: str, by: str) -> Alert | None:
        """Acknowledge a firing alert; ``None`` when nothing changed (already acked/resolved)."""
        return self._update(alert_id, "acknowledged", by, None)

    def resolve(
        self, alert_id: str, by: str | None = None, at: datetime | None = None
    ) -> Alert | None:
        """Resolve an alert; ``None`` when it already was."""
        return self._update(alert_id, "resolved", by, at)

    def _update(
        self, alert_id: str, target: AlertState, by: str | None, at: datetime | None
    ) -> Alert | None:
        def move(alert: Alert) -> Change | None:
            if alert.state == "resolved" or alert.state == target:
                return None
            fields = {"state": target} | ({"resolved_by": by or ""} if target == "resolved" else {})
            event: AlertEvent = "acknowledged" if target == "acknowledged" else "resolved"
            return Change(self._changed(alert, target, by, at), event, fields)

        return self._apply(alert_id, move, by)

    def _apply(
        self, alert_id: str, change: Callable[[Alert], Change | None], by: str | None
    ) -> Alert | None:
        """Read the alert, let ``change`` decide, and write the result with its stream record
        and deliveries in one MULTI/EXEC (retried when another writer got there first)."""
        key = keys.alert_key(alert_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hget(key, "json")
                    if raw is None:
                        raise AlertNotFound(alert_id)
                    decided = change(Alert.model_validate_json(raw))
                    if decided is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    pipe.hset(
                        key, mapping={"json": decided.alert.model_dump_json(), **decided.fields}
                    )
                    self._record(pipe, decided.alert, decided.event, by)
                    pipe.execute()
                    return decided.alert
                except WatchError:
                    continue

    @staticmethod
    def _changed(alert: Alert, target: AlertState, by: str | None, at: datetime | None) -> Alert:
        now = utc_now()
        changes: dict[str, object] = {"state": target, "updated_at": now}
        if target == "acknowledged":
            changes["acknowledged_by"] = by
        else:
            changes["resolved_at"] = at or now
        return alert.model_copy(update=changes)

    def stream(
        self, since_id: str = "-", count: int = 100
    ) -> builtins.list[tuple[str, dict[str, str]]]:
        """Stream records after ``since_id`` (what the dashboard tails)."""
        start = since_id if since_id == "-" else f"({since_id}"
        return [
            (rid.decode(), {k.decode(): v.decode() for k, v in fields.items()})
            for rid, fields in self.redis.xrange(self.settings.alert_stream_key, start, "+", count)
        ]
