"""Non-blocking alert delivery with retries, exponential backoff and a Redis retry list.

``Dispatcher.submit`` only enqueues (never blocks, never raises): each sink (Kafka and every
configured channel) has its own thread and bounded queue, so a slow or dead channel delays
nobody else. A delivery that still fails after ``alert_retry_max`` attempts is logged and
parked in the Redis list ``opinion:alerts:retry``; a sweeper re-sends parked deliveries every
``alert_retry_interval_s`` (so they arrive once the channel is back).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from pipeline.aggregation import keys
from pipeline.alerting.channels import Channel, KafkaChannel, channels_from_settings
from pipeline.config import Settings
from pipeline.schemas import Alert

log = logging.getLogger(__name__)
EVENT_OF_STATE = {"firing": "opened", "acknowledged": "acknowledged", "resolved": "resolved"}


@dataclass
class Delivery:
    """One alert event for one sink."""

    alert: Alert
    event: str
    attempts: int = 0

    def to_json(self, sink: str, error: str) -> str:
        return json.dumps(
            {
                "sink": sink,
                "event": self.event,
                "attempts": self.attempts,
                "error": error[:500],
                "parked_at": time.time(),
                "alert": json.loads(self.alert.model_dump_json()),
            }
        )


class _SinkWorker:
    def __init__(self, owner: Dispatcher, sink: Channel) -> None:
        self.owner = owner
        self.sink = sink
        self.queue: queue.Queue[Delivery] = queue.Queue(owner.settings.alert_queue_size)
        self.thread = threading.Thread(target=self._loop, name=f"alert-{sink.name}", daemon=True)

    def _loop(self) -> None:
        while not self.owner.stopping.is_set() or not self.queue.empty():
            try:
                item = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._deliver(item)
            except Exception:  # never let the thread die
                log.exception("alert delivery to %s crashed", self.sink.name)
            finally:
                self.queue.task_done()

    def _deliver(self, item: Delivery) -> None:
        s = self.owner.settings
        error = ""
        for attempt in range(s.alert_retry_max):
            item.attempts += 1
            try:
                self.sink.send(item.alert, item.event)
                if item.attempts > 1:
                    log.info("alert %s delivered to %s", item.alert.id, self.sink.name)
                return
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "alert %s to %s failed (attempt %d): %s",
                    item.alert.id, self.sink.name, item.attempts, error,
                )  # fmt: skip
            if attempt + 1 < s.alert_retry_max:
                delay = min(s.alert_retry_backoff_s * 2**attempt, s.alert_retry_backoff_max_s)
                if self.owner.stopping.wait(delay):
                    break
        log.error(
            "alert %s (%s) to %s failed after %d attempts: %s; parked for a later retry",
            item.alert.id, item.event, self.sink.name, item.attempts, error,
        )  # fmt: skip
        self.owner.park(self.sink.name, item, error)


class Dispatcher:
    """Delivers alert events to Kafka and the configured channels, off the caller's thread."""

    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis | None,
        *,
        channels: list[Channel] | None = None,
        kafka: bool = True,
        producer: Any | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.stopping = threading.Event()
        sinks: list[Channel] = [KafkaChannel(settings, producer)] if kafka else []
        sinks += channels_from_settings(settings) if channels is None else channels
        self.workers = {sink.name: _SinkWorker(self, sink) for sink in sinks}
        self._sweeper = threading.Thread(target=self._sweep, name="alert-retry", daemon=True)
        self._started = False

    def start(self) -> Dispatcher:
        if not self._started:
            self._started = True
            for worker in self.workers.values():
                worker.thread.start()
            self._sweeper.start()
        return self

    def __enter__(self) -> Dispatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, alert: Alert, event: str | None = None) -> None:
        """Queue an alert event for every sink; returns at once. ``event`` defaults to the
        alert's state: firing -> ``opened``, acknowledged, resolved."""
        event = event or EVENT_OF_STATE[alert.state]
        for name, worker in self.workers.items():
            if name != "kafka" and event not in self.settings.alert_notify_events:
                continue
            self._enqueue(worker, Delivery(alert, event))

    def _enqueue(self, worker: _SinkWorker, item: Delivery) -> None:
        try:
            worker.queue.put_nowait(item)
        except queue.Full:
            log.error(
                "alert queue of %s is full; parking alert %s", worker.sink.name, item.alert.id
            )
            self.park(worker.sink.name, item, "queue full")

    def park(self, sink: str, item: Delivery, error: str) -> None:
        """Keep a failed delivery in Redis for a later retry (best effort)."""
        if self.redis is None:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.rpush(keys.ALERT_RETRY, item.to_json(sink, error))
            pipe.ltrim(keys.ALERT_RETRY, -self.settings.alert_retry_keep, -1)
            pipe.execute()
        except Exception as exc:
            log.error("could not park alert %s for %s: %s", item.alert.id, sink, exc)

    def retry_parked(self, limit: int = 100) -> int:
        """Move up to ``limit`` parked deliveries back onto their sinks' queues."""
        if self.redis is None:
            return 0
        try:
            raw_items = self.redis.lpop(keys.ALERT_RETRY, limit) or []
        except Exception as exc:
            log.warning("cannot read parked alerts: %s", exc)
            return 0
        moved = 0
        for raw in raw_items:
            data = json.loads(raw)
            worker = self.workers.get(data["sink"])
            if worker is None:
                log.warning("dropping parked alert for unconfigured sink %s", data["sink"])
                continue
            alert = Alert.model_validate(data["alert"])
            self._enqueue(worker, Delivery(alert, data["event"], data.get("attempts", 0)))
            moved += 1
        return moved

    def _sweep(self) -> None:
        while not self.stopping.wait(self.settings.alert_retry_interval_s):
            self.retry_parked()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery finished (delivered or parked)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(w.queue.unfinished_tasks == 0 for w in self.workers.values()):
                return True
            time.sleep(0.02)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads; deliveries still retrying are parked, not lost."""
        self.stopping.set()
        for worker in self.workers.values():
            if worker.thread.is_alive():
                worker.thread.join(timeout)
            closer = getattr(worker.sink, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception as exc:
                    log.debug("closing %s: %s", worker.sink.name, exc)
