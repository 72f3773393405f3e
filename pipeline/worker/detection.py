"""Live spike detection inside each worker: a timer judges closed buckets and dispatches alerts.

Every worker runs it; the detector's per-watch locks and deterministic alert ids in Redis
make concurrent evaluation safe (one alert per incident however many workers run).
"""

from __future__ import annotations

import logging

from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.dispatcher import Dispatcher
from pipeline.config import Settings
from pipeline.detection.live import LiveDetector
from pipeline.redis_io import redis_client
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.watermark import read_watermark

log = logging.getLogger(__name__)


class LiveDetection:
    """Evaluate up to the shared watermark; hand new/resolved alerts to the dispatcher."""

    def __init__(self, settings: Settings, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.redis = redis_client(settings)
        self.detector = LiveDetector(settings, AggregateStore(self.redis, settings), self.redis)
        self.dispatcher = Dispatcher(settings, self.redis).start()

    def run_once(self) -> int:
        """One evaluation (blocking; run it in a thread). Returns alerts opened."""
        watermark = read_watermark(self.redis, self.settings.detector_idle_partition_s)
        if watermark is None:
            return 0
        opened = 0
        for alert in self.detector.evaluate(self.detector.watermark_from(watermark)):
            log.warning(
                "alert %s on %s: %s (negative share %.0f%% vs baseline %.0f%%, volume %d)",
                alert.id, alert.watch_name, alert.state, 100 * alert.negative_share,
                100 * alert.baseline_share, alert.volume,
            )  # fmt: skip
            self.dispatcher.submit(alert)
            opened += alert.state == "firing"
        self.metrics.inc("alerts", opened)
        return opened

    def close(self) -> None:
        self.dispatcher.close()
        self.redis.close()
