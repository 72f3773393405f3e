"""Alert state in Redis: one hash per alert, an index, and the stream the dashboard reads.

Every change (opened, acknowledged, resolved) updates the alert's hash under the same id and
appends one record to ``settings.alert_stream_key`` with fields ``id``, ``event``, ``state``,
``watch_id``, ``by``, ``at`` and ``alert`` (the full alert JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import redis
from redis.exceptions import WatchError

from pipeline.aggregation import keys
from pipeline.config import Settings
from pipeline.schemas import Alert, AlertState, utc_now

AlertEvent = Literal["opened", "acknowledged", "resolved"]
LIST_SCAN = 2000


class AlertNotFound(KeyError):
    """No alert with that id."""


class AlertStore:
    """Create, read and update alerts on a sync Redis client."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings

    def _record(self, alert: Alert, event: AlertEvent, by: str | None) -> None:
        pipe = self.redis.pipeline(transaction=False)
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
        pipe.execute()

    def open(self, alert: Alert) -> bool:
        """Store a new alert; ``False`` (and nothing written) when the id already exists."""
        key = keys.alert_key(alert.id)
        if not self.redis.hsetnx(key, "json", alert.model_dump_json()):
            return False
        self.redis.hset(key, mapping={"state": alert.state, "watch_id": alert.watch_id})
        self._record(alert, "opened", None)
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
        key = keys.alert_key(alert_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hget(key, "json")
                    if raw is None:
                        raise AlertNotFound(alert_id)
                    alert = Alert.model_validate_json(raw)
                    if alert.state == "resolved" or alert.state == target:
                        pipe.unwatch()
                        return None
                    now = utc_now()
                    changes: dict[str, object] = {"state": target, "updated_at": now}
                    if target == "acknowledged":
                        changes["acknowledged_by"] = by
                    else:
                        changes["resolved_at"] = at or now
                    updated = alert.model_copy(update=changes)
                    pipe.multi()
                    fields = {"json": updated.model_dump_json(), "state": target}
                    if target == "resolved":
                        fields["resolved_by"] = by or ""
                    pipe.hset(key, mapping=fields)
                    pipe.execute()
                    break
                except WatchError:
                    continue
        self._record(updated, "acknowledged" if target == "acknowledged" else "resolved", by)
        return updated

    def stream(self, since_id: str = "-", count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """Stream records after ``since_id`` (what the dashboard tails)."""
        start = since_id if since_id == "-" else f"({since_id}"
        return [
            (rid.decode(), {k.decode(): v.decode() for k, v in fields.items()})
            for rid, fields in self.redis.xrange(self.settings.alert_stream_key, start, "+", count)
        ]
