"""Worker metrics in the Prometheus text exposition format (no extra dependency)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import ClassVar

LabelSet = tuple[tuple[str, str], ...]

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Histogram:
    """Cumulative-bucket histogram."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name, self.help, self.buckets = name, help_text, tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += value
        self.n += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            lines.append(f'{self.name}_bucket{{le="{bound}"}} {running}')
        lines.append(f'{self.name}_bucket{{le="+Inf"}} {self.n}')
        lines += [f"{self.name}_sum {self.total:.6f}", f"{self.name}_count {self.n}"]
        return lines


class WorkerMetrics:
    """Counters and histograms of one worker process."""

    COUNTERS: ClassVar[dict[str, str]] = {
        "consumed": "Messages read from the input topics.",
        "scored": "Posts scored and published.",
        "dead_lettered": "Messages sent to the dead-letter topic.",
        "duplicates": "Reposts and re-deliveries counted instead of scored.",
        "alerts": "Alerts opened by this worker.",
        "model_swaps": "Model versions switched to without restart.",
        "redis_retries": "Redis operations retried (Redis unavailable).",
    }
    LABELED_COUNTERS: ClassVar[dict[str, str]] = {
        "alerts_opened": "Alerts opened by this worker, one per kind of surge, by severity.",
        "alert_deliveries_sent": "Alert deliveries a channel accepted.",
        "alert_deliveries_failed": "Alert delivery attempts that failed (retried later).",
        "alert_deliveries_parked": "Alert deliveries parked after a permanent failure.",
    }
    GAUGES: ClassVar[dict[str, str]] = {
        "alert_deliveries_pending": "Alert deliveries waiting to be sent (all workers).",
        "alert_delivery_oldest_pending_seconds": "Age of the oldest pending alert delivery.",
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters = dict.fromkeys(self.COUNTERS, 0)
        self.labeled: dict[str, dict[LabelSet, float]] = {
            name: {} for name in (*self.LABELED_COUNTERS, *self.GAUGES)
        }
        self.batch_size = Histogram(
            "opinion_batch_size", "Posts per scoring batch.", _BATCH_BUCKETS
        )
        self.model_latency = Histogram(
            "opinion_model_latency_seconds", "Model time per batch.", _LATENCY_BUCKETS
        )
        self.end_to_end_lag = Histogram(
            "opinion_end_to_end_lag_seconds",
            "From broker append to scored and aggregated.",
            _LATENCY_BUCKETS,
        )
        self.model_version = ""

    def inc(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def inc_labeled(self, name: str, labels: Mapping[str, str], amount: float = 1) -> None:
        """Add to the sample of a labeled counter (``LABELED_COUNTERS``)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            samples = self.labeled[name]
            samples[key] = samples.get(key, 0) + amount

    def set_gauge(self, name: str, labels: Mapping[str, str], value: float) -> None:
        """Set the sample of a labeled gauge (``GAUGES``)."""
        with self._lock:
            self.labeled[name][tuple(sorted(labels.items()))] = value

    def _render_labeled(self, name: str, metric: str, kind: str, help_text: str) -> list[str]:
        lines = [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for labels, value in sorted(self.labeled[name].items()):
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{metric}{{{text}}} {_number(value)}")
        return lines

    def render(self) -> str:
        with self._lock:
            lines: list[str] = []
            for name, help_text in self.COUNTERS.items():
                metric = f"opinion_{name}_total"
                lines += [
                    f"# HELP {metric} {help_text}",
                    f"# TYPE {metric} counter",
                    f"{metric} {self.counters[name]}",
                ]
            for name, help_text in self.LABELED_COUNTERS.items():
                lines += self._render_labeled(name, f"opinion_{name}_total", "counter", help_text)
            for name, help_text in self.GAUGES.items():
                lines += self._render_labeled(name, f"opinion_{name}", "gauge", help_text)
            for hist in (self.batch_size, self.model_latency, self.end_to_end_lag):
                lines += hist.render()
            lines += [
                "# HELP opinion_model_info The model version in use.",
                "# TYPE opinion_model_info gauge",
                f'opinion_model_info{{version="{self.model_version}"}} 1',
            ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    """A label value as the text format wants it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """Integers without a decimal point, other values in full."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
