"""Sends the alert outbox (``pipeline.alerting.deliveries``): every worker, every channel.

``Outbox.start()`` runs one thread per channel (Kafka and each configured channel), so a slow
or dead channel delays no other. Each claims its channel's due deliveries one at a time under
a lease (``alert_lease_s``), sends it with its idempotency key and settles it:

* accepted: ``sent``;
* ``PermanentChannelError`` (HTTP 4xx other than 408/429, an invalid address): parked with the
  error, never retried automatically (``opinion alerts retry``);
* any other error: due again after ``alert_retry_backoff_s`` doubling per failure up to
  ``alert_retry_backoff_max_s``, with equal jitter; retried for as long as it takes.

``drain(timeout_s)`` (worker shutdown) stops the threads after sending what is due within the
timeout; whatever is left stays pending and another worker sends it. Stored and logged errors
never hold a URL's path (``channels.endpoint``).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Protocol, TypeVar

import redis

from pipeline.alerting.channels import (
    Channel,
    KafkaChannel,
    PermanentChannelError,
    channels_from_settings,
    endpoint,
)
from pipeline.alerting.deliveries import Delivery, DeliveryStore
from pipeline.config import Settings

log = logging.getLogger(__name__)
BATCH = 20
"""Deliveries one channel thread sends before it checks for stopping and refreshes gauges."""
GAUGES_EVERY_S = 5.0
ERROR_CHARS = 500
_URL = re.compile(r"\b[a-zA-Z][\w+.-]*://\S+")
T = TypeVar("T")


DeliveryOutcome = Literal["sent", "failed", "parked"]


class DeliveryMetrics(Protocol):
    """What the outbox reports to (``pipeline.worker.metrics.WorkerMetrics``)."""

    def count_delivery(self, outcome: DeliveryOutcome, channel: str) -> None: ...

    def set_delivery_backlog(self, channel: str, pending: int, oldest_s: float) -> None: ...


def backoff_s(
    failures: int, base_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Delay after the ``failures``-th consecutive failure: ``base * 2**(failures-1)`` capped
    at ``max_s``, equal jitter (uniform in the upper half, so workers spread out but never
    hammer a dead channel)."""
    step = min(max_s, base_s * 2 ** max(0, failures - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


def safe_error(exc: BaseException) -> str:
    """``Type: message`` with any URL cut to its endpoint (a webhook's path is a secret)."""
    text = _URL.sub(lambda m: endpoint(m.group()), f"{type(exc).__name__}: {exc}")
    return text[:ERROR_CHARS]


class Outbox:
    """Claims, sends and settles due deliveries; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        *,
        channels: list[Channel] | None = None,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = DeliveryStore(client, settings)
        if channels is None:
            channels = [KafkaChannel(settings), *channels_from_settings(settings)]
        self.channels: dict[str, Channel] = {c.name: c for c in channels}
        self.metrics = metrics
        self.lease_s = max(settings.alert_lease_s, 2 * settings.alert_timeout_s)
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self.channels}
        self._threads: list[threading.Thread] = []
        self._deadline = float("inf")
        self._redis_down = False
        self._gauges_at = 0.0
        self._lock = threading.Lock()

    # --- one pass -----------------------------------------------------------------------
    def send_due(self, limit: int = 100) -> int:
        """Send up to ``limit`` due deliveries per channel, channels in parallel; returns
        how many the channels accepted."""
        with ThreadPoolExecutor(max(1, len(self.channels)), "outbox-pass") as pool:
            return sum(pool.map(lambda name: self._send_channel(name, limit), self.channels))

    def _send_channel(self, name: str, limit: int) -> int:
        sent = 0
        for _ in range(limit):
            if self._stop.is_set() and time.monotonic() >= self._deadline:
                break
            claimed = self.store.claim(name, self.lease_s)
            if not claimed:
                break
            sent += self._deliver(self.channels[name], claimed[0])
        return sent

    def _deliver(self, channel: Channel, d: Delivery) -> int:
        alert = self.store.payload(d)
        if alert is None:
            self._settle_failure(d, PermanentChannelError("the alert to send is gone"))
            return 0
        try:
            channel.send(alert, d.event, d.key)
        except Exception as exc:
            self._settle_failure(d, exc)
            return 0
        self.store.mark_sent(d)
        self._count("sent", d.channel)
        if d.attempts > 1:
            log.info("alert %s (%s) delivered to %s after %d attempts",
                     d.alert_id, d.event, d.channel, d.attempts)  # fmt: skip
        return 1

    def _settle_failure(self, d: Delivery, exc: Exception) -> None:
        """Park or reschedule ``d``; nothing when its lease passed to another worker."""
        error = safe_error(exc)
        if isinstance(exc, PermanentChannelError):
            if self.store.park(d, error):
                self._count("parked", d.channel)
                log.error("alert %s (%s) to %s parked after %d attempts: %s "
                          "(re-queue: opinion alerts retry %s)",
                          d.alert_id, d.event, d.channel, d.attempts, error, d.id)  # fmt: skip
            return
        s = self.settings
        delay = backoff_s(d.failures + 1, s.alert_retry_backoff_s, s.alert_retry_backoff_max_s)
        if self.store.retry(d, error, delay):
            self._count("failed", d.channel)
            log.warning("alert %s (%s) to %s failed (attempt %d), retrying in %.1f s: %s",
                        d.alert_id, d.event, d.channel, d.attempts, delay, error)  # fmt: skip

    def _count(self, outcome: DeliveryOutcome, channel: str) -> None:
        if self.metrics is not None:
            self.metrics.count_delivery(outcome, channel)

    # --- background threads -------------------------------------------------------------
    def start(self) -> Outbox:
        """One sending thread per channel (idempotent)."""
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._loop, args=(n,), name=f"outbox-{n}", daemon=True)
                for n in self.channels
            ]
            for thread in self._threads:
                thread.start()
        return self

    def wake(self) -> None:
        """Send now rather than at the next tick (e.g. right after an alert opened)."""
        for event in self._wake.values():
            event.set()

    def _loop(self, name: str) -> None:
        while not self._stop.is_set():
            busy = self._guarded(lambda: self._send_pass(name))
            if not busy:
                self._wake[name].wait(self.settings.alert_outbox_interval_s)
                self._wake[name].clear()
        self._guarded(lambda: self._send_channel(name, 10**9))  # until the drain deadline

    def _send_pass(self, name: str) -> bool:
        """One pass of a channel's thread (every step talks to Redis, so a success means
        Redis is up); ``True`` when more deliveries may be due at once."""
        busy = self._send_channel(name, BATCH) >= BATCH
        self._maybe_refresh_gauges()
        return busy

    def _guarded(self, step: Callable[[], T]) -> T | None:
        """Run ``step``; a Redis outage is logged once (when it starts), never raised."""
        try:
            result = step()
        except redis.RedisError as exc:
            if not self._redis_down:
                log.warning("alert outbox: Redis unavailable (%s); retrying", exc)
            self._redis_down = True
            return None
        except Exception:  # never let a sending thread die
            log.exception("alert outbox step failed")
            return None
        if self._redis_down:
            log.info("alert outbox: Redis is back")
        self._redis_down = False
        return result

    def _maybe_refresh_gauges(self) -> None:
        with self._lock:
            if time.monotonic() - self._gauges_at < GAUGES_EVERY_S:
                return
            self._gauges_at = time.monotonic()
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        """Pending deliveries and the age of the oldest, per channel (all workers' view)."""
        if self.metrics is None:
            return
        for channel in sorted(set(self.store.channels()) | set(self.channels)):
            count, age = self.store.backlog(channel)
            self.metrics.set_delivery_backlog(channel, count, round(age, 3))

    def drain(self, timeout_s: float) -> None:
        """Stop: send what is due for up to ``timeout_s``, then return; anything left (or
        still being sent) stays pending and another worker takes it when its lease ends."""
        self._deadline = time.monotonic() + timeout_s
        self._stop.set()
        self.start()  # threads that never ran do their final pass now
        self.wake()
        for thread in self._threads:
            thread.join(max(0.0, self._deadline - time.monotonic()))
        busy = {t.name for t in self._threads if t.is_alive()}
        self.close([n for n in self.channels if f"outbox-{n}" not in busy])

    def close(self, names: list[str] | None = None) -> None:
        """Close the channels (all, or ``names``) that hold connections (Kafka's producer)."""
        for name in self.channels if names is None else names:
            closer = getattr(self.channels[name], "close", None)
            if closer is None:
                continue
            try:
                closer()
            except Exception as exc:
                log.debug("closing %s: %s", name, exc)
