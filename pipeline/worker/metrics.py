"""Worker metrics with prometheus-client, in a registry of their own (one per worker).

Labels stay bounded: model route and source come from fixed sets, the language is the
primary subtag of at most ``MAX_LANG_LABELS`` codes (then ``other``), and a dead letter's
reason is a category (``reason_kind``), never its text. Counting is per batch: the children
of a labelled metric are looked up once and cached. ``/metrics`` also shows each assigned
partition's consumer lag (read at scrape time) and the process and Python runtime metrics.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from pipeline.alerting.outbox import DeliveryOutcome
from pipeline.schemas import DeadLetter, Post, ScoredPost

prometheus_client.disable_created_metrics()  # no ``*_created`` series beside each counter

CONTENT_TYPE = "text/plain; version=0.0.4"
MAX_LANG_LABELS = 40
"""Distinct ``lang`` label values a worker reports; later ones count as ``other``."""

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

ConsumerLag = Callable[[], Mapping[tuple[str, int], int]]

"""Messages not yet committed per assigned (topic, partition)."""

# (stage, pattern at the start of the reason, category); the first match wins.
_REASON_KINDS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (stage, re.compile(pattern), kind)
    for stage, pattern, kind in (
        ("decode", r"empty message value", "empty"),
        ("decode", r"message is \d+ bytes, over", "too_large"),
        ("decode", r"not valid UTF-8", "invalid_utf8"),
        ("decode", r"\w+: unpaired surrogate", "invalid_unicode"),
        ("parse", r"malformed JSON", "malformed_json"),
        ("parse", r"expected a JSON object", "not_an_object"),
        ("validate", r"structure nested too deeply", "too_deep"),
        ("validate", r"text: empty or whitespace", "empty_text"),
        ("validate", r"text: \d+ characters, over", "text_too_long"),
        ("normalise", r"text has no visible characters", "no_visible_text"),
        ("normalise", r"scored event is \d+ bytes", "too_large_after_masking"),
        ("score", r"poison:", "poison"),
        ("score", r"scoring failed:", "scoring_failed"),
        ("score", r"invalid scored event:", "invalid_prediction"),
    )
)
_FIELD = re.compile(r"([A-Za-z_<>]+)[.:]")


def reason_kind(stage: str, reason: str) -> str:
    """A bounded category of a dead letter's reason (``malformed_json``, ``invalid_url``...);
    ``other`` for a reason no rule knows (e.g. an unexpected exception)."""
    for rule_stage, pattern, kind in _REASON_KINDS:
        if stage == rule_stage and pattern.match(reason):
            return kind
    if stage == "validate":  # "field: what is wrong; ..." from Post's validation
        match = _FIELD.match(reason)
        field = match.group(1) if match else ""
        return f"invalid_{field}" if field in Post.model_fields else "invalid_fields"
    return "other"


class BatchHistogram(Collector):
    """A histogram fed a batch at a time: one lock per batch instead of one per value
    (prometheus-client's ``Histogram.observe`` costs ~1.5 us, a lock each)."""

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self.name, self.help, self.buckets = name, help_text, tuple(buckets)
        self._counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, value: float) -> None:
        self.observe_many((value,))

    def observe_many(self, values: Iterable[float]) -> None:
        values = list(values)
        slots = [bisect_left(self.buckets, v) for v in values]  # first bound >= value
        with self._lock:
            for slot in slots:
                self._counts[slot] += 1
            self._sum += sum(values)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip((*map(floatToGoString, self.buckets), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(self.name, self.help, buckets=buckets, sum_value=total)


class _LagCollector(Collector):
    """``opinion_consumer_lag`` per assigned partition, read from the consumer at scrape."""

    def __init__(self) -> None:
        self.source: ConsumerLag | None = None

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "opinion_consumer_lag",
            "Messages in an assigned input partition not yet committed by this worker.",
            labels=["topic", "partition"],
        )
        for (topic, partition), lag in sorted((self.source or dict)().items()):
            family.add_metric([topic, str(partition)], lag)
        yield family


class _ModelInfo(Collector):
    """``opinion_model_info{version}``: the model version in use."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "opinion_model_info", "The model version in use.", labels=["version"]
        )
        family.add_metric([self.metrics.model_version], 1)
        yield family


class WorkerMetrics:
    """The metrics of one worker process; ``render()`` is the ``/metrics`` page."""

    def __init__(self, *, process: bool = True) -> None:
        """``process``: add the process and Python runtime collectors (CPU, memory, GC)."""
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, text: str, *labels: str) -> Counter:
            return Counter(f"opinion_{name}", text, labels, registry=registry)

        def gauge(name: str, text: str, *labels: str) -> Gauge:
            return Gauge(f"opinion_{name}", text, labels, registry=registry)

        self.consumed = counter("consumed", "Messages read from the input topics.")
        self.scored = counter("scored", "Posts scored and published.", "route", "source", "lang")
        self.dead_lettered = counter(
            "dead_lettered", "Messages sent to the dead-letter topic.", "stage", "reason"
        )
        self.duplicates = counter(
            "duplicates", "Reposts and re-deliveries counted instead of scored.", "kind"
        )
        self.alerts = counter("alerts", "Alerts opened by this worker.")
        self.alerts_opened = counter(
            "alerts_opened",
            "Alerts opened by this worker, one per kind of surge, by severity.",
            "kind",
            "severity",
        )
        self.model_swaps = counter("model_swaps", "Model versions switched to without restart.")
        self.redis_retries = counter(
            "redis_retries", "Redis operations retried (Redis unavailable)."
        )
        self.alert_deliveries: dict[DeliveryOutcome, Counter] = {
            "sent": counter(
                "alert_deliveries_sent", "Alert deliveries a channel accepted.", "channel"
            ),
            "failed": counter(
                "alert_deliveries_failed",
                "Alert delivery attempts that failed (retried later).",
                "channel",
            ),
            "parked": counter(
                "alert_deliveries_parked",
                "Alert deliveries parked after a permanent failure.",
                "channel",
            ),
        }
        self.alert_deliveries_pending = gauge(
            "alert_deliveries_pending", "Alert deliveries waiting to be sent (all workers).",
            "channel",
        )  # fmt: skip
        self.alert_delivery_oldest_pending_seconds = gauge(
            "alert_delivery_oldest_pending_seconds", "Age of the oldest pending alert delivery.",
            "channel",
        )  # fmt: skip
        self._children: dict[tuple[int, tuple[str, ...]], Counter] = {}
        self._langs: set[str] = set()
        self.batch_size = BatchHistogram(
            "opinion_batch_size", "Posts per scoring batch.", _BATCH_BUCKETS, self.registry
        )
        self.model_latency = BatchHistogram(
            "opinion_model_latency_seconds",
            "Model time per batch.",
            _LATENCY_BUCKETS,
            self.registry,
        )
        self.end_to_end_lag = BatchHistogram(
            "opinion_end_to_end_lag_seconds",
            "From broker append to scored and aggregated.",
            _LATENCY_BUCKETS,
            self.registry,
        )
        self.model_version = ""
        self._lag = _LagCollector()
        self.registry.register(self._lag)
        self.registry.register(_ModelInfo(self))
        if process:
            prometheus_client.ProcessCollector(registry=self.registry)
            prometheus_client.PlatformCollector(registry=self.registry)
            prometheus_client.GCCollector(registry=self.registry)

    @property
    def consumer_lag(self) -> ConsumerLag | None:
        """Where ``opinion_consumer_lag`` is read from (the worker app sets it)."""
        return self._lag.source

    @consumer_lag.setter
    def consumer_lag(self, source: ConsumerLag | None) -> None:
        self._lag.source = source

    def _child(self, metric: Counter, values: tuple[str, ...]) -> Counter:
        """The sample of ``metric`` with these label values, looked up once."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def count_delivery(self, outcome: DeliveryOutcome, channel: str) -> None:
        """One alert delivery sent, failed (retried later) or parked, by channel."""
        self._child(self.alert_deliveries[outcome], (channel,)).inc()

    def set_delivery_backlog(self, channel: str, pending: int, oldest_s: float) -> None:
        """Pending deliveries of a channel and the age of the oldest (all workers' view)."""
        self.alert_deliveries_pending.labels(channel).set(pending)
        self.alert_delivery_oldest_pending_seconds.labels(channel).set(oldest_s)

    def count_alert_opened(self, kinds: Iterable[str], severity: str) -> None:
        """An alert opened: once in ``alerts``, once per kind in ``alerts_opened``."""
        self.alerts.inc()
        for kind in kinds:
            self.alerts_opened.labels(kind, severity).inc()

    def count_scored(self, events: Sequence[ScoredPost]) -> None:
        """Count one batch's scored posts by model route, source and language."""
        tally = Tally((e.model_route, e.source, e.lang) for e in events)
        for (route, source, lang), n in tally.items():
            self._child(self.scored, (route, source, self._lang(lang))).inc(n)

    def count_dead(self, letters: Iterable[DeadLetter]) -> None:
        """Count dead letters by stage and reason category."""
        for (stage, kind), n in Tally(
            (d.stage, reason_kind(d.stage, d.error)) for d in letters
        ).items():
            self._child(self.dead_lettered, (stage, kind)).inc(n)

    def count_duplicates(self, reposts: int, redelivered: int) -> None:
        """Count posts not scored again: reposts of another post and re-deliveries."""
        if reposts:
            self._child(self.duplicates, ("repost",)).inc(reposts)
        if redelivered:
            self._child(self.duplicates, ("redelivered",)).inc(redelivered)

    def _lang(self, lang: str) -> str:
        """The primary language subtag, ``other`` past ``MAX_LANG_LABELS`` distinct ones."""
        primary = lang.split("-", 1)[0]
        if primary in self._langs:
            return primary
        if len(self._langs) >= MAX_LANG_LABELS:
            return "other"
        self._langs.add(primary)
        return primary

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        return generate_latest(self.registry).decode()
