"""Live spike detection inside each worker: a loop judges closed buckets, and the alert
outbox sends the deliveries that opening or resolving an alert recorded.

Every worker runs both; the detector's per-watch locks and deterministic alert ids in Redis
make concurrent evaluation safe (one alert per incident however many workers run), and the
outbox's leases let any worker send any pending delivery.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.incidents import AlertChange, alerting_detector
from pipeline.alerting.outbox import Outbox
from pipeline.config import Settings
from pipeline.kafka_io import security_kwargs
from pipeline.keys import input_field
from pipeline.redis_io import redis_client
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.results import TRANSIENT_ERRORS
from pipeline.worker.watermark import (
    StallTracker,
    read_watermark,
    record_highwaters,
)

log = logging.getLogger(__name__)
OFFSETS_TIMEOUT_S = 10.0
METADATA_EVERY = 30  # refresh the input topics' partition lists every this many reads


Highwaters = Callable[[], dict[str, int]]


class InputEndOffsets:
    """The broker's end offset of every input partition (a consumer outside any group).

    ListOffsets is a lower bound on Tansu (the start of the last record batch); the
    watermark raises it to the high-water marks the workers saw when fetching.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = [settings.topic("social"), settings.topic("news")]
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._reads = 0

    async def read(self) -> dict[str, int]:
        """``topic:partition`` -> end offset; raises ``KafkaError``/``TimeoutError``."""
        async with asyncio.timeout(OFFSETS_TIMEOUT_S):
            if self._consumer is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self.settings.resolved_kafka_bootstrap(),
                    group_id=None,
                    enable_auto_commit=False,
                    **security_kwargs(self.settings),
                )
                await consumer.start()
                self._consumer = consumer
            if not self._partitions or self._reads % METADATA_EVERY == 0:
                await self._consumer.topics()  # refreshes the cluster metadata
                self._partitions = [
                    TopicPartition(topic, part)
                    for topic in self.topics
                    for part in sorted(self._consumer.partitions_for_topic(topic) or ())
                ]
            self._reads += 1
            ends = await self._consumer.end_offsets(self._partitions)
        return {input_field(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class LiveDetection:
    """Evaluate up to the shared watermark; the outbox delivers what opening or resolving an
    alert queued (``start_outbox``), and ``close`` drains it on shutdown."""

    def __init__(self, settings: Settings, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.redis = redis_client(settings)
        store = AggregateStore(self.redis, settings)
        self.detector = alerting_detector(settings, store, self.redis)
        self.outbox = Outbox(settings, self.redis, metrics=metrics)
        self.stalls = StallTracker(settings.detector_stall_s)
        self._closed = threading.Event()

    def start_outbox(self) -> None:
        """Send pending alert deliveries in the background (one thread per channel)."""
        self.outbox.start()

    def run_once(
        self, end_offsets: dict[str, int] | None = None, highwaters: dict[str, int] | None = None
    ) -> int:
        """One evaluation (blocking; run it in a thread). Returns alerts opened.

        ``end_offsets`` (every input partition's end offset, from the broker) and
        ``highwaters`` (those this worker's consumer saw) let the watermark wait for
        partitions whose posts are still queued; see ``pipeline.worker.watermark``.
        """
        record_highwaters(self.redis, highwaters or {})
        watermark = read_watermark(self.redis, end_offsets, self.stalls)
        if watermark is None:
            return 0
        changes = self.detector.evaluate(self.detector.watermark_from(watermark))
        for change in changes:
            self._count(change)
        if changes:
            self.outbox.wake()  # their deliveries are in the outbox already
        return sum(change.event == "opened" for change in changes)

    def _count(self, change: AlertChange) -> None:
        alert = change.alert
        log.warning(
            "alert %s on %s %s [%s, %s]: %s",
            alert.id, alert.watch_name, change.event, alert.severity, "+".join(alert.kinds),
            "; ".join(f"{r.kind} {r.observed:g} vs {r.expected:g}" for r in alert.reasons),
        )  # fmt: skip
        if change.event == "opened":
            self.metrics.count_alert_opened(alert.kinds, alert.severity)

    async def run_forever(self, highwaters: Highwaters = dict) -> None:
        """Every ``detector_interval_s``: read the input end offsets, then evaluate.
        ``highwaters`` returns the high-water marks of this worker's assigned partitions."""
        offsets = InputEndOffsets(self.settings)
        try:
            while not self._closed.is_set():
                await asyncio.sleep(self.settings.detector_interval_s)
                try:
                    ends = await offsets.read()
                except (KafkaError, TimeoutError, OSError) as exc:
                    log.warning("spike detection skipped: input offsets unavailable (%s)", exc)
                    await offsets.close()
                    continue
                try:
                    await asyncio.to_thread(self.run_once, ends, highwaters())
                except TRANSIENT_ERRORS as exc:
                    log.warning("spike detection skipped: Redis unavailable (%s)", exc)
        finally:
            await offsets.close()

    def close(self) -> None:
        """Stop evaluating, drain the outbox for ``alert_drain_timeout_s``, close Redis."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.outbox.drain(self.settings.alert_drain_timeout_s)
        log.info("alert outbox drained")
        self.redis.close()
