"""Expected post counts for the volume detectors: a seasonal profile and a calm baseline.

A watch's expected count for a bucket is ``level x factor``. ``factor`` is the bucket's
seasonal shape: hour of day (once ``min_days`` days are known) times day of week (once a
week is), each the median ratio of past hours/days to their centred moving average
(so trends and level shifts stay out of the shape), normalised to mean 1, for posts and for
negative posts separately (complaints need not follow the same daily rhythm as posts).
``level`` is the seasonally adjusted rate of the newest calm buckets (a ratio estimator, so
sparse watches with many empty buckets are not biased; the newest ``LEVEL_POSTS`` posts'
worth of buckets, so a busy watch follows a trend quickly and a sparse one pools longer).
Count noise is negative binomial, variance ``mu + phi mu^2``, with the over-dispersion
``phi`` estimated from the same buckets (method of moments), plus the level's own
uncertainty. The statistic is the signed root of the Poisson deviance scaled by that
dispersion: about N(0, 1) for the 0-5 posts of a sparse bucket as for thousands.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from statistics import median
from typing import Any, Literal

Count = Literal["volume", "negative"]
HOURS, DAYS_PER_WEEK = 24, 7
WEEKS_KEPT, MIN_WEEKS = 4, 1
FACTOR_FLOOR = 0.05
LEVEL_POSTS, LEVEL_MIN_BUCKETS = 500, 30
MAX_PHI = 4.0


def count_z(observed: float, expected: float, dispersion: float = 1.0) -> float:
    """Signed root of the Poisson deviance of ``observed`` against ``expected``, scaled by
    ``dispersion`` (variance / mean): about N(0, 1) under the model, also for small counts."""
    expected = max(expected, 1e-9)
    if observed <= 0:
        deviance = 2 * expected
    else:
        deviance = 2 * (observed * math.log(observed / expected) - (observed - expected))
    z = math.sqrt(max(deviance, 0.0) / max(dispersion, 1.0))
    return z if observed >= expected else -z


def _weekday(day: int) -> int:
    return (day + 3) % DAYS_PER_WEEK  # 1970-01-01 was a Thursday; Monday = 0


def _fill_circular(values: list[float | None]) -> list[float] | None:
    """Unknown slots interpolated between their nearest known neighbours (circularly)."""
    known = [i for i, v in enumerate(values) if v is not None]
    if not known:
        return None
    n = len(values)
    out: list[float] = []
    for i, value in enumerate(values):
        if value is not None:
            out.append(value)
            continue
        before = max((k for k in known if k < i), default=known[-1] - n)
        after = min((k for k in known if k > i), default=known[0] + n)
        low, high = values[before % n], values[after % n]
        assert low is not None and high is not None
        out.append(low + (high - low) * (i - before) / (after - before))
    return out


class SeasonalProfile:
    """Seasonal factors from the rates of hours and days (classical decomposition).

    Each closed hour's rate is divided by the mean rate of the 24 hours centred on it (known
    12 hours later), and each day's by the mean of the 7 days centred on it, so a trend or a
    level shift never becomes part of the daily or weekly shape. A slot's factor is the
    median of its recent ratios, normalised to mean 1. Every bucket counts, incidents too:
    the median over days keeps one day's incident out of the shape, while learning only
    calm hours would leave an hour that fired once (a steep morning rise before the shape
    was known) unlearnt, and firing again, day after day.
    """

    def __init__(self, days_kept: int, min_days: int, state: dict[str, Any] | None = None):
        self.days_kept, self.min_days = days_kept, min_days
        state = state or {}
        # [[hour start, posts per bucket, negatives per bucket], ...] of recent hours
        self.hourly: list[list[float]] = state.get("hourly", [])
        self.daily: list[list[float]] = state.get("daily", [])  # [[day, posts, negatives]]
        # slot -> [[day, posts ratio, negatives ratio], ...]
        self.hours: dict[str, list[list[float]]] = state.get("hours", {})
        self.weekdays: dict[str, list[list[float]]] = state.get("weekdays", {})
        # [hour start or day, posts, negatives, buckets] of the hour / day being learnt
        self.hour_acc: list[float] | None = state.get("hour_acc")
        self.day_acc: list[float] | None = state.get("day_acc")
        self.version = 0  # changes whenever factors may change
        self._factors: dict[Count, tuple[list[float], list[float]]] = {}

    def to_state(self) -> dict[str, Any]:
        return {
            "hourly": self.hourly,
            "daily": self.daily,
            "hours": self.hours,
            "weekdays": self.weekdays,
            "hour_acc": self.hour_acc,
            "day_acc": self.day_acc,
        }

    def add(self, ts: int, volume: float, negative: float) -> None:
        """Count the judged bucket starting at ``ts``."""
        if self.days_kept == 0:
            return
        hour, day = ts - ts % 3600, ts // 86_400
        if self.hour_acc is not None and self.hour_acc[0] != hour:
            self._close_hour(self.hour_acc)
            self.hour_acc = None
        if self.day_acc is not None and self.day_acc[0] != day:
            self._close_day(self.day_acc)
            self.day_acc = None
        self.hour_acc = self.hour_acc or [hour, 0.0, 0.0, 0.0]
        self.day_acc = self.day_acc or [day, 0.0, 0.0, 0.0]
        for acc in (self.hour_acc, self.day_acc):
            acc[1] += volume
            acc[2] += negative
            acc[3] += 1

    def _close_hour(self, acc: list[float]) -> None:
        self.hourly.append([acc[0], acc[1] / acc[3], acc[2] / acc[3]])
        del self.hourly[: max(0, len(self.hourly) - 36)]
        centre = int(acc[0]) - 12 * 3600
        ratios = self._centred(self.hourly, centre, 3600, 12, 18)
        if ratios is not None:
            self._append(self.hours, centre // 3600 % HOURS, centre // 86_400, ratios)

    def _close_day(self, acc: list[float]) -> None:
        self.daily.append([acc[0], acc[1] / acc[3], acc[2] / acc[3]])
        del self.daily[: max(0, len(self.daily) - 7)]
        centre = int(acc[0]) - 3
        ratios = self._centred(self.daily, centre, 1, 3, 6)
        if ratios is not None:
            self._append(self.weekdays, _weekday(centre), centre, ratios)

    @staticmethod
    def _centred(
        rows: list[list[float]], centre: float, step: int, half: int, needed: int
    ) -> tuple[float, float] | None:
        """The row at ``centre`` divided by the mean of the rows within ``half`` steps of
        it (posts, negatives), or ``None`` without that row or ``needed`` neighbours."""
        near = [
            r for r in rows if abs(r[0] - centre) <= half * step and r[0] - centre < half * step
        ]
        middle = [r for r in near if r[0] == centre]
        if not middle or len(near) < needed:
            return None
        posts = sum(r[1] for r in near) / len(near)
        negatives = sum(r[2] for r in near) / len(near)
        return (
            middle[0][1] / posts if posts > 0 else 1.0,
            middle[0][2] / negatives if negatives > 0 else 1.0,
        )

    def _append(
        self, slots: dict[str, list[list[float]]], slot: int, day: int, ratios: tuple[float, float]
    ) -> None:
        entries = slots.setdefault(str(slot), [])
        entries.append([day, *ratios])
        keep = self.days_kept if slots is self.hours else WEEKS_KEPT
        del entries[: max(0, len(entries) - keep)]
        self._factors = {}
        self.version += 1

    def factor(self, ts: int, count: Count = "volume") -> float:
        """Seasonal factor of the bucket at ``ts`` (1.0 until enough days are known)."""
        if count not in self._factors:
            i = 1 if count == "volume" else 2
            self._factors[count] = (
                self._normalised(self.hours, HOURS, self.min_days, i),
                self._normalised(self.weekdays, DAYS_PER_WEEK, MIN_WEEKS, i),
            )
        by_hour, by_weekday = self._factors[count]
        return by_hour[ts // 3600 % HOURS] * by_weekday[_weekday(ts // 86_400)]

    @staticmethod
    def _normalised(
        slots: dict[str, list[list[float]]], n: int, needed: int, i: int
    ) -> list[float]:
        """Median ratio per slot, normalised to mean 1. Hours with too few days are
        interpolated from their neighbours once half the day is known; weekdays need all."""
        medians: list[float | None] = []
        for slot in range(n):
            ratios = [e[i] for e in slots.get(str(slot), [])]
            medians.append(median(ratios) if len(ratios) >= needed else None)
        known = sum(m is not None for m in medians)
        filled = _fill_circular(medians) if known >= (n / 2 if n == HOURS else n) else None
        mean = sum(filled) / n if filled else 0.0
        if not filled or mean <= 0:
            return [1.0] * n
        return [max(m / mean, FACTOR_FLOOR) for m in filled]


class CountBaseline:
    """Calm buckets' counts and start times: level, dispersion and expected counts."""

    def __init__(self, maxlen: int, entries: Iterable[Sequence[float]] = ()) -> None:
        self.entries: deque[tuple[float, float, int]] = deque(maxlen=maxlen)
        self.entries.extend((float(e[0]), float(e[1]), int(e[2])) for e in entries)
        self._fits: dict[Count, tuple[float, float, float]] = {}
        self._version = -1

    def __len__(self) -> int:
        return len(self.entries)

    def append(self, volume: float, negative: float, ts: int) -> None:
        self.entries.append((volume, negative, ts))
        self._fits = {}

    def to_state(self) -> list[list[float]]:
        return [list(e) for e in self.entries]

    def model(self, count: Count, profile: SeasonalProfile) -> tuple[float, float, float]:
        """(level per unit factor, over-dispersion phi, relative variance of the level)."""
        if self._version != profile.version:
            self._fits, self._version = {}, profile.version
        if count not in self._fits:
            self._fits[count] = self._fit(count, profile)
        return self._fits[count]

    def _fit(self, count: Count, profile: SeasonalProfile) -> tuple[float, float, float]:
        i = 0 if count == "volume" else 1
        rows: list[tuple[float, float]] = []
        posts = 0.0
        for entry in reversed(self.entries):  # newest first, until enough posts
            rows.append((entry[i], profile.factor(entry[2], count)))
            posts += entry[0]
            if posts >= LEVEL_POSTS and len(rows) >= LEVEL_MIN_BUCKETS:
                break
        total = sum(r[0] for r in rows)
        weight = sum(r[1] for r in rows)
        if weight <= 0:
            return 0.0, 0.0, 1.0
        level = total / weight
        excess = square = 0.0
        for observed, factor in rows:
            mu = level * factor
            excess += (observed - mu) ** 2 - mu
            square += mu * mu
        phi = min(max(excess / square, 0.0), MAX_PHI) if square > 0 else 0.0
        return level, phi, 1 / max(total, 1.0) + phi / len(rows)

    def judge(
        self, count: Count, profile: SeasonalProfile, observed: float, factors: float
    ) -> tuple[float, float]:
        """(expected count, z) of ``observed`` over buckets whose seasonal factors sum to
        ``factors``."""
        level, phi, rel_var = self.model(count, profile)
        expected = level * factors
        per_bucket = expected / max(factors, 1e-9)
        return expected, count_z(observed, expected, 1 + phi * per_bucket + expected * rel_var)
