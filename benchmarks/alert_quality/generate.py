"""Synthetic watches for the alert-quality benchmark (deterministic for a seed).

Each series is a count of posts per bucket drawn from a negative binomial around a rate:
base level (its volume band) x diurnal cycle x weekly cycle x slow drift, with unlabeled
nuisances (permanent level shifts, holidays, single outlier buckets) and 0-3 labeled surges.
Negatives are beta-binomial around a per-series share. Series ``i`` of seed ``s`` depends only
on ``(s, i)``, so series can be generated in any order or process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from pipeline.aggregation.bucket import Bucket

KINDS = ("negative_share", "negative_volume", "volume")
BANDS = {"sparse": (0.5, 5.0), "medium": (5.0, 50.0), "busy": (50.0, 2000.0)}
EPOCH_START = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())  # a Monday, 00:00 UTC
HOUR_S, DAY_S = 3600, 86_400


@dataclass(frozen=True)
class CorpusConfig:
    """Size of a corpus. Labels never start in the first ``warmup_days`` (NAB's probation)."""

    series: int = 120
    weeks: int = 4
    bucket_s: int = 300
    warmup_days: int = 3

    @property
    def n_buckets(self) -> int:
        return self.weeks * 7 * DAY_S // self.bucket_s

    def buckets_for(self, seconds: float) -> int:
        return max(1, round(seconds / self.bucket_s))


@dataclass(frozen=True)
class Label:
    """A labeled surge over buckets ``[start, end)``.

    ``multiplier``: factor on all posts (volume), on negative posts (negative_volume) or on
    the negative share (negative_share, at constant volume); ``share_delta``: the share's rise.
    """

    kind: str
    start: int
    end: int
    multiplier: float
    share_delta: float
    shape: str  # "step" or "ramp"
    ramp_buckets: int = 0

    @property
    def step_3x(self) -> bool:
        """A step surge of a count (volume or negatives) by at least 3x."""
        return self.kind != "negative_share" and self.shape == "step" and self.multiplier >= 3


@dataclass(frozen=True)
class Effect:
    """An unlabeled nuisance over buckets ``[start, end)``: level_shift (lasts to the end),
    holiday (one day) or outlier (one bucket); ``factor`` multiplies the rate."""

    kind: str
    start: int
    end: int
    factor: float


@dataclass(frozen=True)
class SeriesInfo:
    """What scoring needs to know of a series (no counts)."""

    id: int
    band: str
    mean_volume: float
    n_buckets: int
    bucket_s: int
    labels: tuple[Label, ...]
    effects: tuple[Effect, ...] = ()
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class Series:
    """One synthetic watch: counts per bucket and what was planted in them."""

    id: int
    band: str
    bucket_s: int
    volume: np.ndarray
    negative: np.ndarray
    labels: list[Label] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    params: dict[str, float] = field(default_factory=dict)  # what the generator drew

    @property
    def mean_volume(self) -> float:
        return float(self.volume.mean())

    def start_ts(self, index: int) -> int:
        return EPOCH_START + index * self.bucket_s

    def info(self) -> SeriesInfo:
        return SeriesInfo(
            self.id,
            self.band,
            self.mean_volume,
            len(self.volume),
            self.bucket_s,
            tuple(self.labels),
            tuple(self.effects),
            self.params,
        )

    def buckets(self) -> list[Bucket]:
        """The series as the ``Bucket`` objects the detectors take."""
        return [
            Bucket.from_counts(self.start_ts(i), int(v), int(n))
            for i, (v, n) in enumerate(zip(self.volume, self.negative, strict=True))
        ]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _seasonal_rate(
    rng: np.random.Generator, band: str, config: CorpusConfig
) -> tuple[np.ndarray, dict[str, float]]:
    """Base level x diurnal x weekly cycle (per-series peak hour, amplitude, weekend)."""
    ts = EPOCH_START + np.arange(config.n_buckets) * config.bucket_s
    hour = (ts % DAY_S) / HOUR_S
    weekday = (ts // DAY_S + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    level = _log_uniform(rng, *BANDS[band])
    peak, amplitude = rng.uniform(9, 22), rng.uniform(0.2, 0.8)
    weekend = rng.uniform(0.5, 1.3)
    diurnal = 1 + amplitude * np.cos(2 * np.pi * (hour - peak) / 24)
    params = {"level": level, "peak_hour": peak, "amplitude": amplitude, "weekend": weekend}
    return level * diurnal * np.where(weekday >= 5, weekend, 1.0), params


def _place(
    rng: np.random.Generator, low: int, high: int, length: int, taken: list[tuple[int, int]]
) -> int | None:
    """A start in ``[low, high - length]`` whose span misses every taken span (or None)."""
    for _ in range(50):
        if high - length <= low:
            return None
        start = int(rng.integers(low, high - length))
        if all(start + length <= a or start >= b for a, b in taken):
            return start
    return None


def _draw_label(rng: np.random.Generator, config: CorpusConfig, base_share: float) -> Label:
    """Kind, size, shape and duration of one surge (its position is set later)."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    duration = config.buckets_for(_log_uniform(rng, 30 * 60, 6 * HOUR_S))
    shape = "ramp" if rng.random() < 0.25 else "step"
    ramp = config.buckets_for(rng.uniform(30 * 60, HOUR_S)) if shape == "ramp" else 0
    duration = max(duration, ramp + 2)
    if kind == "negative_share":
        delta = min(float(rng.uniform(0.15, 0.5)), 0.95 - base_share)
        multiplier = (base_share + delta) / base_share
    elif kind == "negative_volume":
        multiplier, delta = float(rng.uniform(3, 12)), float(rng.uniform(0.05, 0.12))
    else:
        multiplier, delta = float(rng.uniform(2, 10)), 0.0
    return Label(kind, 0, duration, multiplier, delta, shape, ramp)


def _labels(rng: np.random.Generator, config: CorpusConfig, base_share: float) -> list[Label]:
    """0-3 non-overlapping surges (about a fifth of the series calm), 12 h apart or more."""
    count = int(rng.choice(4, p=[0.2, 0.3, 0.3, 0.2]))
    gap = config.buckets_for(12 * HOUR_S)
    low = config.buckets_for(config.warmup_days * DAY_S)
    taken: list[tuple[int, int]] = []
    labels = []
    for _ in range(count):
        label = _draw_label(rng, config, base_share)
        length = label.end + 2 * gap
        start = _place(rng, low - gap, config.n_buckets - gap, length, taken)
        if start is None:
            continue
        taken.append((start, start + length))
        start += gap
        labels.append(replace(label, start=start, end=start + label.end))
    return sorted(labels, key=lambda lb: lb.start)


def _effects(rng: np.random.Generator, config: CorpusConfig, labels: list[Label]) -> list[Effect]:
    """Level shifts, a holiday and outlier buckets, 6 h or more away from every surge."""
    n, margin = config.n_buckets, config.buckets_for(6 * HOUR_S)
    low = config.buckets_for(config.warmup_days * DAY_S)
    taken = [(lb.start - margin, lb.end + margin) for lb in labels]
    day = config.buckets_for(DAY_S)
    effects = []
    if rng.random() < 0.3:  # one or two permanent level shifts
        for _ in range(int(rng.integers(1, 3))):
            start = _place(rng, low, n, 1, taken)
            if start is not None:
                effects.append(Effect("level_shift", start, n, float(rng.uniform(0.7, 1.6))))
    if rng.random() < 0.3:  # one holiday: a whole calendar day
        days = [
            d
            for d in range(low // day, n // day)
            if all(b <= d * day or a >= (d + 1) * day for a, b in taken)
        ]
        if days:
            d = int(rng.choice(days))
            effects.append(Effect("holiday", d * day, (d + 1) * day, float(rng.uniform(0.4, 1.8))))
    for _ in range(int(rng.poisson(1.5))):
        start = _place(rng, low, n, 1, taken)
        if start is not None:
            effects.append(Effect("outlier", start, start + 1, float(rng.uniform(4, 10))))
    return sorted(effects, key=lambda e: e.start)


def _surge_profile(label: Label, n: int) -> np.ndarray:
    """0 outside the surge, rising linearly to 1 over a ramp's first buckets, else 1."""
    profile = np.zeros(n)
    profile[label.start : label.end] = 1.0
    if label.ramp_buckets:
        steps = np.arange(1, label.ramp_buckets + 1) / label.ramp_buckets
        profile[label.start : label.start + label.ramp_buckets] = steps
    return profile


def _apply(rate: np.ndarray, share: np.ndarray, labels: list[Label], effects: list[Effect]) -> None:
    """Plant the effects and the surges into the rate and the negative share (in place)."""
    for effect in effects:
        rate[effect.start : effect.end] *= effect.factor
    for label in labels:
        f = _surge_profile(label, len(rate))
        base = share.copy()
        share += f * label.share_delta
        if label.kind == "volume":
            rate *= 1 + f * (label.multiplier - 1)
        elif label.kind == "negative_volume":  # negatives x m at a share up by only delta
            negatives = 1 + f * (label.multiplier - 1)
            rate *= np.where(f > 0, negatives * base / share, 1.0)


def generate_series(seed: int, index: int, config: CorpusConfig | None = None) -> Series:
    """Series ``index`` of the corpus of ``seed``."""
    config = config or CorpusConfig()
    rng = np.random.default_rng([seed, index])
    band = tuple(BANDS)[index % len(BANDS)]
    rate, params = _seasonal_rate(rng, band, config)
    drift = float(rng.uniform(0.7, 1.3)) if rng.random() < 0.5 else 1.0
    rate *= np.linspace(1.0, drift, len(rate))
    base_share = float(rng.uniform(0.1, 0.5))
    labels = _labels(rng, config, base_share)
    effects = _effects(rng, config, labels)
    share = np.full(len(rate), base_share)
    _apply(rate, share, labels, effects)
    dispersion = _log_uniform(rng, 8, 80)  # negative binomial size: var = mu + mu^2 / size
    volume = rng.negative_binomial(dispersion, dispersion / (dispersion + rate))
    concentration = _log_uniform(rng, 50, 400)  # beta-binomial jitter of the share
    p = rng.beta(share * concentration, (1 - share) * concentration)
    negative = rng.binomial(volume, p)
    params |= {"drift": drift, "base_share": base_share}
    params |= {"dispersion": dispersion, "concentration": concentration}
    params = {k: round(float(v), 4) for k, v in params.items()}
    return Series(index, band, config.bucket_s, volume, negative, labels, effects, params)


def generate_corpus(seed: int, config: CorpusConfig | None = None) -> list[Series]:
    """Every series of the corpus of ``seed``."""
    config = config or CorpusConfig()
    return [generate_series(seed, i, config) for i in range(config.series)]
