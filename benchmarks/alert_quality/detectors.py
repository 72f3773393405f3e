"""The detectors compared, and the per-series job a worker process runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from benchmarks.alert_quality import legacy_detector
from benchmarks.alert_quality.baselines import gaussian_detections, zscore_detections
from benchmarks.alert_quality.generate import CorpusConfig, Series, SeriesInfo, generate_series
from benchmarks.alert_quality.scoring import Detection
from pipeline.aggregation.bucket import Bucket


class _Updates(Protocol):
    def update(self, bucket: Bucket) -> Any: ...


def run_spike(detector: _Updates, series: Series) -> list[Detection]:
    """Feed a series to a ``SpikeDetector``; a detection wherever its event is "fired"."""
    out = []
    for i, bucket in enumerate(series.buckets()):
        result = detector.update(bucket)
        if result.event == "fired":
            kinds = getattr(result, "kinds", ("negative_share",))
            out.append(Detection(i, tuple(kinds)))
    return out


def today(series: Series) -> list[Detection]:
    """The detector as of commit 7a8703d (negative share only)."""
    params = legacy_detector.DetectorParams()
    return run_spike(legacy_detector.SpikeDetector(params, bucket_s=series.bucket_s), series)


def new(series: Series) -> list[Detection]:
    """``pipeline.detection.detector`` as it is in the working tree, default parameters
    (imported here: the file may be mid-rewrite while the other detectors still run)."""
    from pipeline.detection import detector as current

    params = current.DetectorParams()
    return run_spike(current.SpikeDetector(params, bucket_s=series.bucket_s), series)


DETECTORS: dict[str, Callable[[Series], list[Detection]]] = {
    "today": today,
    "new": new,
    "zscore": zscore_detections,
    "gaussian": gaussian_detections,
}


@dataclass(frozen=True)
class SeriesRun:
    """Detections and run time (seconds) of each detector on one series."""

    info: SeriesInfo
    detections: dict[str, list[Detection]]
    seconds: dict[str, float]


def run_series(job: tuple[int, int, CorpusConfig, tuple[str, ...]]) -> SeriesRun:
    """Generate series ``index`` of ``seed`` and run the named detectors on it."""
    seed, index, config, names = job
    series = generate_series(seed, index, config)
    detections, seconds = {}, {}
    for name in names:
        t0 = time.perf_counter()
        detections[name] = DETECTORS[name](series)
        seconds[name] = time.perf_counter() - t0
    return SeriesRun(series.info(), detections, seconds)
