"""Standard baselines, each run on the volume, the negative count and the negative share of a
series and tripping when any of them does (one alert per incident).

- ``zscore``: z of each bucket against the trailing day of buckets; fire after 2 bad buckets
  in a row (z >= 3 on any signal), resolve after 3 calm ones, then a 12-bucket cooldown (the
  same hysteresis as the detector). Not tuned.
- ``gaussian``: NAB's windowed Gaussian (``nab/detectors/gaussian``): the tail probability of
  the value against the mean and std of the previous 1000 values. NAB's score is
  ``P(X > x)`` (high for values far *below* the mean); surges are rises, so the score here
  is the mirrored tail ``P(X < x)``. A bucket trips when the score reaches the threshold;
  an incident stays open until 3 buckets in a row do not trip. As NAB does, the threshold
  is the one that maximises the standard profile's score, found on the tuning seed 0
  (``run.py --calibrate-gaussian``), never on the reported seed.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from benchmarks.alert_quality.generate import Series
from benchmarks.alert_quality.scoring import Detection

ZSCORE_WINDOW = 288  # one day of 5-minute buckets
ZSCORE_THRESHOLD = 3.0
FIRE_AFTER, RESOLVE_AFTER, COOLDOWN = 2, 3, 12
GAUSSIAN_WINDOW = 1000  # NAB's windowSize
GAUSSIAN_Z = 6.0  # best NAB standard score on seed 0 (run.py --calibrate-gaussian)
GAUSSIAN_THRESHOLD = NormalDist().cdf(GAUSSIAN_Z)
MIN_STD = 1e-6  # NAB's floor of a zero std


def signals(series: Series) -> dict[str, np.ndarray]:
    """The three signals, by the surge kind each stands for (share: NaN without posts)."""
    volume = series.volume.astype(float)
    negative = series.negative.astype(float)
    share = np.divide(negative, volume, out=np.full_like(volume, np.nan), where=volume > 0)
    return {"volume": volume, "negative_volume": negative, "negative_share": share}


def trailing_z(x: np.ndarray, window: int, min_count: int = 2) -> np.ndarray:
    """z of each value against the (up to) ``window`` buckets before it (NaN values and
    buckets with fewer than ``min_count`` valid values before them give NaN)."""
    valid = ~np.isnan(x)
    v = np.where(valid, x, 0.0)
    zero = np.zeros(1)
    count = np.concatenate((zero, np.cumsum(valid)))
    s1 = np.concatenate((zero, np.cumsum(v)))
    s2 = np.concatenate((zero, np.cumsum(v * v)))
    idx = np.arange(len(x))
    lo = np.maximum(idx - window, 0)
    n = count[idx] - count[lo]
    safe_n = np.maximum(n, 1)
    mean = (s1[idx] - s1[lo]) / safe_n
    var = np.maximum((s2[idx] - s2[lo]) / safe_n - mean * mean, 0.0)
    std = np.sqrt(var)
    std[std == 0] = MIN_STD
    z = (x - mean) / std
    z[(n < min_count) | ~valid] = np.nan
    return z


def signal_z(series: Series, window: int) -> dict[str, np.ndarray]:
    return {kind: trailing_z(x, window) for kind, x in signals(series).items()}


def _tripped(zs: dict[str, np.ndarray], i: int, threshold: float) -> tuple[str, ...]:
    return tuple(kind for kind, z in zs.items() if z[i] >= threshold)


def zscore_detections(series: Series) -> list[Detection]:
    """Rolling z-score with the detector's hysteresis (fire 2, resolve 3, cooldown 12)."""
    zs = signal_z(series, ZSCORE_WINDOW)
    out: list[Detection] = []
    firing, bad_streak, calm_streak, cooldown_until = False, 0, 0, 0
    for i in range(len(series.volume)):
        kinds = _tripped(zs, i, ZSCORE_THRESHOLD)
        if firing:
            calm_streak = 0 if kinds else calm_streak + 1
            if calm_streak >= RESOLVE_AFTER:
                firing, cooldown_until = False, i + 1 + COOLDOWN
            continue
        bad_streak = bad_streak + 1 if kinds else 0
        if bad_streak >= FIRE_AFTER and i >= cooldown_until:
            firing, calm_streak, bad_streak = True, 0, 0
            out.append(Detection(i, kinds))
    return out


def incident_starts(trip: np.ndarray, resolve_after: int = RESOLVE_AFTER) -> np.ndarray:
    """Indices of tripping buckets with no trip in the ``resolve_after`` buckets before."""
    idx = np.flatnonzero(trip)
    gaps = np.diff(idx, prepend=-resolve_after - 1)
    return idx[gaps > resolve_after]


def gaussian_max_z(series: Series) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(max z over the signals per bucket, z per signal) against NAB's window."""
    zs = signal_z(series, GAUSSIAN_WINDOW)
    stacked = np.nan_to_num(np.vstack(list(zs.values())), nan=-np.inf)
    return stacked.max(axis=0), zs


def gaussian_detections(series: Series, z_threshold: float = GAUSSIAN_Z) -> list[Detection]:
    """NAB's windowed Gaussian on each signal; score ``P(X < x) >= Φ(z_threshold)``."""
    top, zs = gaussian_max_z(series)
    return [
        Detection(int(i), _tripped(zs, int(i), z_threshold))
        for i in incident_starts(top >= z_threshold)
    ]
