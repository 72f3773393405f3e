"""The alert-delivery outbox in Redis: one record per (alert, event, channel), sent under a lease.

``AlertStore`` queues an alert change's deliveries in the same MULTI/EXEC as the change
(``DeliveryStore.queue``), so an opened alert always has its deliveries. A sender claims due
deliveries of one channel (``claim``: Lua, moves their due time to the end of a lease and
counts the attempt), sends them, then reports ``sent`` (the record stays, state ``sent``),
``retry`` (due again after a backoff) or ``park`` (a permanent failure, kept with its error
until ``requeue``). A sender that dies holding a lease loses it when the lease ends: the
delivery is due again and any worker sends it. Keys: ``pipeline.keys``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from importlib import resources
from typing import Any, Literal

import redis

from pipeline import keys
from pipeline.alerting.channels import channels_from_settings, idempotency_key_for
from pipeline.config import Settings
from pipeline.schemas import SEVERITIES, Alert

DeliveryState = Literal["pending", "parked", "sent"]
EVENTS = ("opened", "escalated", "acknowledged", "resolved")
KAFKA = "kafka"
MIN_SEVERITY_SETTING = {
    "webhook": "alert_min_severity_webhook",
    "slack": "alert_min_severity_slack",
    "email": "alert_min_severity_email",
}
"""The setting holding each channel's least severe alert (Kafka gets every alert)."""
SCAN_LIMIT = 10_000
"""Most deliveries read when listing or measuring a backlog."""
OUTBOX_LUA = resources.files("pipeline.alerting").joinpath("outbox.lua").read_text("utf-8")


@dataclass(frozen=True)
class Delivery:
    """One alert event for one channel. Times are epoch seconds."""

    id: str
    alert_id: str
    event: str
    channel: str
    key: str
    state: DeliveryState = "pending"
    attempts: int = 0
    failures: int = 0
    created_at: float = 0.0
    due_at: float | None = None
    last_attempt_at: float | None = None
    last_error: str | None = None
    parked_at: float | None = None
    sent_at: float | None = None
    token: str | None = None

    @classmethod
    def from_json(cls, raw: str | bytes) -> Delivery:
        data = json.loads(raw)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """For listings: every field but the lease token."""
        out = asdict(self)
        out.pop("token")
        return out


def delivery_id(alert_id: str, event: str, channel: str) -> str:
    """Deterministic: one delivery per alert, event (``revision`` for escalations) and
    channel."""
    return f"{alert_id}:{event}:{channel}"


def revision(alert: Alert, event: str) -> str:
    """What makes an event unique for its alert: the event, and for an escalation the
    severity and kinds it escalated to (an alert escalates at most a few times)."""
    if event != "escalated":
        return event
    return f"escalated-{alert.severity}-{'+'.join(alert.kinds)}"


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis MATCH pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def configured_channels(settings: Settings) -> list[str]:
    """Kafka and every channel that ``settings`` configure."""
    return [KAFKA, *(c.name for c in channels_from_settings(settings))]


def wants(settings: Settings, channel: str, alert: Alert, event: str) -> bool:
    """Whether ``channel`` gets ``event`` of ``alert``: Kafka gets everything; the others
    the events in ``alert_notify_events`` of alerts at least their minimum severity."""
    if channel == KAFKA:
        return True
    if event not in settings.alert_notify_events:
        return False
    floor = getattr(settings, MIN_SEVERITY_SETTING.get(channel, ""), SEVERITIES[0])
    return SEVERITIES.index(alert.severity) >= SEVERITIES.index(floor)


class DeliveryStore:
    """Queue, claim, settle and list deliveries on a sync Redis client."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self._script = client.register_script(OUTBOX_LUA)

    @cached_property
    def channel_names(self) -> list[str]:
        """Kafka and the configured channels (``ConfigError`` if one is misconfigured)."""
        return configured_channels(self.settings)

    # --- writing (inside the alert change's MULTI) -------------------------------------
    def plan(self, alert: Alert, event: str, now: float | None = None) -> list[Delivery]:
        """The deliveries an alert event needs, one per channel that wants it."""
        created = time.time() if now is None else now
        tag = revision(alert, event)
        return [
            Delivery(
                id=delivery_id(alert.id, tag, channel),
                alert_id=alert.id,
                event=event,
                channel=channel,
                key=idempotency_key_for(alert.id, tag),
                created_at=created,
                due_at=created,
            )
            for channel in self.channel_names
            if wants(self.settings, channel, alert, event)
        ]

    @staticmethod
    def queue(pipe: Any, alert: Alert, deliveries: Iterable[Delivery]) -> None:
        """Add ``deliveries`` (of ``alert``, as it is now) to a MULTI pipeline."""
        payload = alert.model_dump_json()
        for d in deliveries:
            pipe.hset(keys.OUTBOX_DELIVERIES, d.id, d.to_json())
            pipe.hset(keys.OUTBOX_PAYLOADS, d.id, payload)
            pipe.zadd(keys.outbox_due_key(d.channel), {d.id: d.due_at or d.created_at})
            pipe.sadd(keys.OUTBOX_CHANNELS, d.channel)

    # --- sending ------------------------------------------------------------------------
    def _call(self, op: str, channel: str, *args: object) -> Any:
        key_list = [
            keys.outbox_due_key(channel),
            keys.OUTBOX_PARKED,
            keys.OUTBOX_DELIVERIES,
            keys.OUTBOX_PAYLOADS,
        ]
        return self._script(keys=key_list, args=[op, time.time(), *args])

    def claim(self, channel: str, lease_s: float, limit: int = 1) -> list[Delivery]:
        """Take up to ``limit`` due deliveries of ``channel`` for ``lease_s`` seconds."""
        token = uuid.uuid4().hex
        raw = self._call("claim", channel, time.time() + lease_s, limit, token)
        return [Delivery.from_json(r) for r in raw]

    def payload(self, d: Delivery) -> Alert | None:
        """The alert to send (as it was when the event happened)."""
        raw = self.redis.hget(keys.OUTBOX_PAYLOADS, d.id)
        return Alert.model_validate_json(raw) if raw else None

    def mark_sent(self, d: Delivery) -> bool:
        """The channel accepted it: done, whoever holds the lease."""
        return bool(self._call("sent", d.channel, d.id))

    def retry(self, d: Delivery, error: str, delay_s: float) -> bool:
        """A transient failure: due again in ``delay_s`` (``False``: the lease was lost)."""
        due = time.time() + delay_s
        return bool(self._call("retry", d.channel, d.id, d.token or "", error, due))

    def park(self, d: Delivery, error: str) -> bool:
        """A permanent failure: kept with ``error``, not retried until ``requeue``."""
        return bool(self._call("park", d.channel, d.id, d.token or "", error))

    def requeue(self, delivery_id: str) -> bool:
        """Make a parked delivery due now; ``False`` when it is not parked."""
        d = self.get(delivery_id)
        return d is not None and bool(self._call("requeue", d.channel, d.id))

    def requeue_parked(self) -> int:
        """Re-queue every parked delivery; returns how many."""
        ids = [m.decode() for m in self.redis.zrange(keys.OUTBOX_PARKED, 0, SCAN_LIMIT - 1)]
        return sum(self.requeue(i) for i in ids)

    # --- reading ------------------------------------------------------------------------
    def get(self, delivery_id: str) -> Delivery | None:
        raw = self.redis.hget(keys.OUTBOX_DELIVERIES, delivery_id)
        return Delivery.from_json(raw) if raw else None

    def get_many(self, ids: list[str]) -> list[Delivery]:
        """The deliveries that exist among ``ids``, in that order."""
        raws = self.redis.hmget(keys.OUTBOX_DELIVERIES, ids) if ids else []
        return [Delivery.from_json(r) for r in raws if r]

    def channels(self) -> list[str]:
        """Every channel a delivery was ever queued for (configured now or not)."""
        return sorted(m.decode() for m in self.redis.smembers(keys.OUTBOX_CHANNELS))

    def for_alert(self, alert_id: str) -> list[Delivery]:
        """Every delivery of one alert, by event then channel."""
        found = [
            Delivery.from_json(raw)
            for _, raw in self.redis.hscan_iter(
                keys.OUTBOX_DELIVERIES, match=f"{_glob_escape(alert_id)}:*", count=500
            )
        ]
        found = [d for d in found if d.alert_id == alert_id]
        order = {event: i for i, event in enumerate(EVENTS)}
        # by event, then revision and channel (the delivery id); not by time: the Lua
        # script re-encodes a settled record's floats to 14 digits
        return sorted(found, key=lambda d: (order.get(d.event, len(order)), d.id))

    def pending(self, channel: str | None = None) -> list[Delivery]:
        """Deliveries waiting to be sent (or being sent), soonest due first."""
        out: list[Delivery] = []
        for name in [channel] if channel else self.channels():
            due = keys.outbox_due_key(name)
            out += self.get_many([m.decode() for m in self.redis.zrange(due, 0, SCAN_LIMIT - 1)])
        return out

    def parked(self) -> list[Delivery]:
        """Parked deliveries, oldest first."""
        ids = self.redis.zrange(keys.OUTBOX_PARKED, 0, SCAN_LIMIT - 1)
        return self.get_many([m.decode() for m in ids])

    def backlog(self, channel: str) -> tuple[int, float]:
        """(pending deliveries of ``channel``, age in seconds of the oldest, 0 when none)."""
        waiting = self.pending(channel)
        if not waiting:
            return 0, 0.0
        oldest = min(d.created_at for d in waiting)
        return len(waiting), max(0.0, time.time() - oldest)
