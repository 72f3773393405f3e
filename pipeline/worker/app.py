"""The Faust application: one batched agent from the input topics to scored events.

Per chunk of a batch (``stream.take_events``, ``BatchProcessor.handle``): validate/clean/
mask/match (ingest), drop reposts and re-deliveries, score with the transformer off the event
loop, publish scored events and dead letters, then aggregate in Redis (idempotent by input
offset) and record the partitions' progress; the next chunk is scored while the previous one
is published and committed. The order of those steps and why: ``pipeline.worker.commit``
(at-least-once, exact aggregates).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Protocol

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from pipeline.config import Settings
from pipeline.kafka_io import faust_credentials, faust_producer, security_kwargs
from pipeline.keys import input_field
from pipeline.model.registry import ModelRegistry
from pipeline.redis_io import async_redis_client
from pipeline.schemas import DeadLetter, ScoredPost
from pipeline.watches.model import WatchSet
from pipeline.watches.store import VERSION_KEY, WATCHES_KEY, parse_watches
from pipeline.worker.batch import BatchProcessor
from pipeline.worker.dedup import RepostGuard
from pipeline.worker.detection import LiveDetection
from pipeline.worker.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.model_holder import ModelHolder
from pipeline.worker.model_updates import RegistryFollower, initial_scorer, parse_model_update
from pipeline.worker.poison import AttemptTracker
from pipeline.worker.results import AggregateSink, BatchResult, RawMessage
from pipeline.worker.watermark import record_progress

log = logging.getLogger(__name__)

# How long the broker may hold a fetch that finds no new data. Faust hard-codes 1.5 s; Kafka
# answers as soon as data arrives, but the embedded Tansu broker holds the request: measured
# here, a post waited 0.42 s (median) for its fetch at 1.5 s, 0.07 s at 0.2 s, 0.02 s at 0.1 s.
# Each empty fetch costs the broker CPU (at 0.1 s: ~0.15 ms per scored post under a backlog,
# twice that of 1.5 s), so 0.2 s.
FETCH_MAX_WAIT_MS = 200
# Input bounds: one partition returns at most ``consumer_max_fetch_size`` bytes per fetch
# (max_message_bytes plus room, at least 4 MiB) and one fetch response at most this many
# partitions' worth (aiokafka's default is 50 MB). These bound the *compressed* bytes read:
# aiokafka decompresses a whole record batch in memory, so a small zstd/gzip batch can still
# expand far beyond them. Set the broker's max.message.bytes to OPINION_MAX_MESSAGE_BYTES
# and let only trusted producers write to the input topics (SECURITY.md).
FETCH_RESPONSE_PARTITIONS = 4
# Events per take under a backlog, in scoring chunks of batch_max_size: the processor
# overlaps one chunk's scoring with the previous chunk's publish and commit, but a take's
# last commit is waited for before Faust may ack (commit.py step 5). 16 rather than 4 hides
# that wait for more chunks: null model, one worker, 1,850-2,070 -> 2,070-2,630 posts/s
# (BENCHMARKS.md, session 13). Light traffic is unchanged: a take also ends after
# batch_max_wait_s.
TAKE_CHUNKS = 16


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by consumer.start()
        fetch_size = self.app.conf.consumer_max_fetch_size
        consumer._fetch_max_bytes = FETCH_RESPONSE_PARTITIONS * fetch_size
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with ``FETCH_MAX_WAIT_MS`` and a bounded fetch response."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class WatchCache:
    """Compiled watches, reloaded from Redis only when their version counter changes."""

    def __init__(self, client) -> None:
        self.redis = client
        self._version: int | None = None
        self._set = WatchSet([])

    async def __call__(self) -> WatchSet:
        version = int(await self.redis.get(VERSION_KEY) or 0)
        if version != self._version:
            raw = await self.redis.hgetall(WATCHES_KEY)
            self._set = WatchSet(*parse_watches(raw))  # a broken watch is logged and skipped
            self._version = version
            log.info(
                "Loaded %d enabled watches (version %d, %d broken)",
                len(self._set),
                version,
                len(self._set.broken),
            )
        return self._set


class ResultSink(Protocol):
    """Where a processed batch's scored events and dead letters go."""

    async def publish(self, result: BatchResult) -> None: ...


class TopicSink:
    """Publishes to the scored and dead-letter topics (the production sink).

    Straight through the app's producer (aiokafka's ``send``): ``Topic.send`` wraps every
    message in Faust's future-message, callback and sensor objects that this sink never uses
    (measured: 0.054 ms of worker CPU per post for publishing through it).
    """

    def __init__(self, scored: faust.TopicT, dead_letters: faust.TopicT) -> None:
        self.app = scored.app
        self.scored = scored.get_topic_name()
        self.dead_letters = dead_letters.get_topic_name()

    async def publish(self, result: BatchResult) -> None:
        """Send everything, then wait until the broker acknowledged each message.

        ``send`` only queues a message; the caller records the chunk as finished in Redis
        right after this returns, so returning before the acks would let a crash lose scored
        events (a re-delivered message below the finished offset is skipped). Measured: 9 of
        3,000 lost to a kill -9 before this wait existed.
        """
        send = self.app.producer.send
        pending = [
            await send(self.scored, event.id.encode(), event.to_bytes(), None, None, None)
            for event in result.scored
        ]
        pending += [
            await send(self.dead_letters, None, dead.to_bytes(), None, None, None)
            for dead in result.dead
        ]
        if pending:
            await asyncio.gather(*pending)


class ListSink:
    """Collects results in memory (unit tests: ``agent.test_context()`` without a broker)."""

    def __init__(self) -> None:
        self.scored: list[ScoredPost] = []
        self.dead: list[DeadLetter] = []

    async def publish(self, result: BatchResult) -> None:
        self.scored.extend(result.scored)
        self.dead.extend(result.dead)


def build_processor(
    settings: Settings, *, aggregates: AggregateSink, model: ModelHolder | None = None
) -> BatchProcessor:
    """The production batch processor: Redis repost guard and watches, registry model."""
    from pipeline.model import load_scorer  # torch/transformers load only when needed

    model = model or ModelHolder(lambda path: load_scorer(settings, path), initial_scorer(settings))
    redis = async_redis_client(settings)
    return BatchProcessor(
        settings,
        model=model,
        guard=RepostGuard(
            redis,
            key=settings.author_hash_salt.get_secret_value().encode(),
            window_s=settings.dedup_window_s,
        ),
        aggregates=aggregates,
        watches=WatchCache(redis),
        metrics=WorkerMetrics(),
        progress=lambda progress: record_progress(redis, progress),
        attempts=AttemptTracker(
            redis,
            group=settings.app_id,
            max_attempts=settings.poison_max_attempts,
            ttl_s=settings.poison_attempt_ttl_s,
        ),
    )


def assigned_highwaters(app: faust.App) -> dict[str, int]:
    """High-water marks (from fetch responses) of the partitions assigned to this worker."""
    try:
        assigned = app.consumer.assignment()
        marks = {tp: app.consumer.highwater(tp) for tp in assigned}
    except Exception:  # consumer not started or rebalancing: nothing to report this time
        return {}
    return {input_field(tp.topic, tp.partition): hw for tp, hw in marks.items() if hw}


def consumer_lag(app: faust.App, topics: Collection[str]) -> dict[tuple[str, int], int]:
    """Per assigned partition of ``topics``: its high-water mark minus this worker's
    committed offset (Faust's own record of commits, read without a request)."""
    try:
        consumer = app.consumer
        committed = consumer._committed_offset  # next offset to read; 0 is stored as None
        lags = {}
        for tp in consumer.assignment():
            if tp.topic not in topics:  # e.g. Faust's own assignor topic
                continue
            highwater = consumer.highwater(tp)
            if highwater is not None:  # known after the partition's first fetch response
                lags[(tp.topic, tp.partition)] = max(0, highwater - (committed.get(tp) or 0))
    except Exception:  # consumer not started or rebalancing: nothing to report this time
        return {}
    return lags


def _wire_detection(app: faust.App, settings: Settings, detection: LiveDetection) -> None:
    """Spike detection (when enabled) and the alert outbox, drained when the app stops."""

    @app.task
    async def send_alerts() -> None:
        """Start the outbox's sending threads (they run until shutdown)."""
        detection.start_outbox()

    if settings.detector.enabled:

        @app.task
        async def detect_spikes() -> None:
            """Judge closed buckets up to the shared event-time watermark."""
            await detection.run_forever(lambda: assigned_highwaters(app))

    @app.on_before_shutdown.connect
    async def drain_alerts(sender: faust.App, **kwargs: object) -> None:
        """Send due deliveries for up to ``alert_drain_timeout_s``; the rest stay pending."""
        await asyncio.to_thread(detection.close)


def _wire_model_updates(app: faust.App, settings: Settings, follower: RegistryFollower) -> None:
    """Hot swaps: an announcement or the periodic poll makes the worker re-read the registry
    and switch to its current version once verified (the message's ``path`` is ignored)."""

    @app.task
    async def follow_model_updates() -> None:
        """Every worker reads every announcement (no consumer group)."""
        consumer = AIOKafkaConsumer(
            settings.topic("model_updates"),
            bootstrap_servers=settings.resolved_kafka_bootstrap(),
            group_id=None,
            auto_offset_reset="latest",
            **security_kwargs(settings),
        )
        await consumer.start()
        try:
            async for record in consumer:
                update = parse_model_update(record.value)
                if update is None:
                    continue
                try:
                    await follower.follow(update)
                except Exception:  # one bad update must not end the follower
                    log.exception("Following model update %s failed", update.version)
        finally:
            await consumer.stop()

    @app.timer(interval=settings.model_poll_s)
    async def poll_registry() -> None:
        """Fallback for a missed announcement: follow the registry's current pointer."""
        await follower.follow()


def _faust_app(settings: Settings) -> faust.App:
    """The Faust app with this worker's broker, fetch, buffer and producer settings."""
    datadir = settings.state_dir / "faust" / str(settings.worker_web_port)
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.resolved_kafka_bootstrap().split(",")],
        broker_credentials=faust_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Scored events of a chunk go out in fewer, larger requests (broker CPU per scored
        # post 0.16 -> 0.10 ms measured); publish waits for the acks of the whole chunk anyway.
        producer_linger=0.005,
        producer_max_request_size=settings.max_message_bytes + 64 * 1024,
        consumer_max_fetch_size=max(4 * 1024 * 1024, settings.max_message_bytes + 64 * 1024),
        # Backpressure: fetching pauses once this many events wait for the agent, so memory
        # stays bounded (about this many messages plus one fetch per partition) while lag
        # grows in the broker. Faust's default, 4096, is up to 4 GB of 1 MB messages.
        stream_buffer_maxsize=max(8 * settings.batch_max_size, 512),
        topic_replication_factor=settings.topic_replication_factor,
        topic_partitions=settings.input_partitions,
        web_port=settings.worker_web_port,
        web_bind=settings.worker_web_bind,
        datadir=str(datadir),
    )
    if isinstance(app.transport, faust_aiokafka.Transport):
        app.transport.Consumer = _Consumer
        app.transport.Producer = faust_producer(settings)
    return app


def create_app(
    settings: Settings,
    *,
    processor: BatchProcessor,
    sink: ResultSink | None = None,
    detection: LiveDetection | None = None,
) -> faust.App:
    """The worker app around ``processor``; ``sink`` receives the output of each batch
    (default: the scored and dead-letter topics)."""
    model, metrics = processor.model, processor.metrics
    metrics.model_version = model.version
    app = _faust_app(settings)
    inputs = app.topic(settings.topic("social"), settings.topic("news"), value_type=bytes)
    scored = app.topic(settings.topic("scored"), value_type=bytes)
    dead_letters = app.topic(settings.topic("dead_letter"), value_type=bytes)
    sink = sink or TopicSink(scored, dead_letters)
    app.processor = processor  # for tests and the bench
    app.model_holder = model
    app.metrics = metrics
    input_topics = {settings.topic("social"), settings.topic("news")}
    metrics.consumer_lag = lambda: consumer_lag(app, input_topics)

    @app.agent(inputs, name="score-posts")
    async def score_posts(stream):
        async for events in stream.take_events(
            settings.batch_max_size * TAKE_CHUNKS, within=settings.batch_max_wait_s
        ):
            batch = [
                RawMessage(
                    value=e.message.value,
                    topic=e.message.topic,
                    key=e.message.key,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    timestamp=e.message.timestamp,
                )
                for e in events
            ]
            await processor.handle(batch, sink.publish)

    if settings.model_dir is None:
        follower = RegistryFollower(model, ModelRegistry(settings.registry_dir), metrics)
        _wire_model_updates(app, settings, follower)
    else:
        log.info("OPINION_MODEL_DIR is set (%s): model updates are ignored", settings.model_dir)

    if detection is not None:
        _wire_detection(app, settings, detection)

    @app.page("/metrics")
    async def prometheus_metrics(self, request):
        return self.text(metrics.render(), content_type=METRICS_CONTENT_TYPE)

    return app
