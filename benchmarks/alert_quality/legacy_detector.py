"""The spike detector as of commit 7a8703d (``pipeline/detection/detector.py``), frozen as
the alert-quality benchmark's reference ("today"). Do not edit: it is what the rewritten
detector is compared with. Dropped from the original: ``detect_series``, ``result_dict`` and
the pandas import (the benchmark does not use them).

Original docstring:

Negative-spike detector (pure Python, no I/O): the same class runs live and offline.

Per bucket, the *short window* is the newest buckets holding at least ``min_volume`` posts
(one bucket on a busy watch, up to ``window_buckets`` on a quiet one). Its negative share is
compared with a trailing baseline (the pooled share of the last ``lookback_buckets`` calm
buckets; spread = binomial noise + the extra bucket-to-bucket variance seen in the baseline)
and, once ``seasonal_min_days`` days are known, with the median share of the same hour on
previous days. A bucket is *bad* when the share is at least ``z_threshold`` spreads and
``min_delta`` above every baseline. Hysteresis: ``fire_after`` bad buckets in a row (elevated
ones hold the streak) fire, provided the posts after the first bad bucket are anomalous on
their own (windows overlap; one cluster of posts must not count twice); ``resolve_after``
calm buckets whose own posts are calm resolve; ``cooldown_buckets`` must pass before the
next alert. The baseline learns only calm buckets, after a delay of ``window_buckets``, and
pauses while the watch is elevated or pending, so a slow ramp does not become the norm;
after ``adapt_after_buckets`` of firing a lasting new level is accepted. Negative volume is
compared with its usual rate (``negative_ratio``) for severity; volume alone never fires.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.aggregation.bucket import Bucket, epoch, from_epoch

State = Literal["ok", "pending", "firing", "resolved"]
Event = Literal["fired", "resolved"]
MAD_TO_SIGMA = 1.4826


class DetectorParams(BaseModel):
    """Detector parameters. Defaults come from ``OPINION_DETECTOR_*``; a watch may override."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="False: never fire (scores are still computed).")
    window_buckets: int = Field(
        10, ge=1, description="Most buckets the short window spans to reach min_volume posts."
    )
    lookback_buckets: int = Field(120, ge=5, description="Calm buckets in the baseline.")
    min_history: int = Field(10, ge=3, description="Calm buckets needed before firing.")
    min_volume: int = Field(20, ge=0, description="Posts the short window needs to be judged.")
    z_threshold: float = Field(3.0, gt=0, description="z of the share to be bad.")
    min_delta: float = Field(0.15, ge=0, le=1, description="Share excess over baseline.")
    min_sigma: float = Field(0.02, gt=0, description="Floor of the share's spread.")
    volume_ratio: float = Field(
        3.0, ge=1, description="Negatives this many times their usual rate: higher severity."
    )
    fire_after: int = Field(2, ge=1, description="Bad buckets, no calm one between, to fire.")
    resolve_after: int = Field(3, ge=1, description="Consecutive calm buckets to resolve.")
    cooldown_buckets: int = Field(60, ge=0, description="No new alert this soon after one.")
    baseline_days: int = Field(7, ge=0, description="Days of same-hour history (0 = off).")
    seasonal_min_days: int = Field(2, ge=1, description="Days needed for the seasonal check.")
    adapt_after_buckets: int = Field(120, ge=1, description="Long firing: accept new level.")

    @classmethod
    def for_watch(
        cls, defaults: DetectorParams, overrides: dict[str, Any] | None
    ) -> DetectorParams:
        """Defaults with a watch's ``detector`` overrides applied (validated)."""
        return cls.model_validate({**defaults.model_dump(), **(overrides or {})})


@dataclass(frozen=True)
class DetectorResult:
    """The verdict on one bucket. ``score >= 0.5`` exactly when the bucket counted as bad."""

    start: datetime
    score: float
    state: State
    negative_share: float
    baseline_share: float
    volume: int
    z: float = 0.0
    negative_ratio: float = 0.0
    window_buckets: int = 1
    event: Event | None = None
    incident_start: datetime | None = None
    incident_volume: int = 0
    incident_negative: int = 0

    @property
    def incident_share(self) -> float:
        return self.incident_negative / self.incident_volume if self.incident_volume else 0.0


def _mad_sigma(values: Sequence[float], center: float) -> float:
    return MAD_TO_SIGMA * median(abs(v - center) for v in values)


class SpikeDetector:
    """Feed buckets in time order to ``update``; state round-trips via ``to_state``."""

    def __init__(
        self,
        params: DetectorParams | None = None,
        *,
        bucket_s: int = 60,
        use_volume: bool = True,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.params = params or DetectorParams()
        self.bucket_s = bucket_s
        self.use_volume = use_volume
        p = self.params
        self.history: deque[tuple[float, float, float]] = deque(maxlen=p.lookback_buckets)
        self.window: deque[tuple[float, float]] = deque(maxlen=p.window_buckets)
        self.phase: Literal["ok", "pending", "firing"] = "ok"
        self.bad_streak = self.good_streak = self.firing_buckets = 0
        self.incident: list[float] | None = None  # [start, volume, negative]
        self.calm_acc = [0.0, 0.0]  # volume, negatives since the calm streak began
        self.confirm_acc = [0.0, 0.0]  # volume, negatives of the bad streak after its first
        self.guard: deque[tuple[float, float, float, int, bool]] = deque()  # not yet learnt
        self.cooldown_until = 0
        self.last_start: int | None = None
        self.seasonal: dict[str, list[list[float]]] = {}  # hour -> [[day, share], ...]
        self.hour_acc: list[float] | None = None  # [hour_start, volume, negative]
        if state:
            self._load(state)

    # --- persistence ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state (what the live detector stores in Redis)."""
        return {
            "history": [list(h) for h in self.history],
            "window": [list(w) for w in self.window],
            "phase": self.phase,
            "bad_streak": self.bad_streak,
            "good_streak": self.good_streak,
            "firing_buckets": self.firing_buckets,
            "incident": self.incident,
            "calm_acc": self.calm_acc,
            "confirm_acc": self.confirm_acc,
            "guard": [list(g) for g in self.guard],
            "cooldown_until": self.cooldown_until,
            "last_start": self.last_start,
            "seasonal": self.seasonal,
            "hour_acc": self.hour_acc,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.history.extend(tuple(h) for h in state.get("history", []))  # type: ignore[misc]
        self.window.extend(tuple(w) for w in state.get("window", []))  # type: ignore[misc]
        self.phase = state.get("phase", "ok")
        self.bad_streak = state.get("bad_streak", 0)
        self.good_streak = state.get("good_streak", 0)
        self.firing_buckets = state.get("firing_buckets", 0)
        self.incident = state.get("incident")
        self.calm_acc = state.get("calm_acc", [0.0, 0.0])
        self.confirm_acc = state.get("confirm_acc", [0.0, 0.0])
        self.guard.extend(tuple(g) for g in state.get("guard", []))  # type: ignore[misc]
        self.cooldown_until = state.get("cooldown_until", 0)
        self.last_start = state.get("last_start")
        self.seasonal = state.get("seasonal", {})
        self.hour_acc = state.get("hour_acc")

    def refresh(self, buckets: Iterable[Bucket]) -> None:
        """Live use: take late-arriving posts into account by replacing the counts of recent,
        already judged buckets (the short window and the not-yet-learnt ones) with fresh
        ones. Verdicts already given are not revisited; buckets must be contiguous."""
        if self.last_start is None:
            return
        fresh = {epoch(b.start): (float(b.volume), b.negative_share * b.volume) for b in buckets}
        n = len(self.window)
        refreshed = [
            fresh.get(self.last_start - (n - 1 - i) * self.bucket_s, old)
            for i, old in enumerate(self.window)
        ]
        self.window.clear()
        self.window.extend(refreshed)
        for i, (_, _, _, ts, calm) in enumerate(self.guard):
            if ts in fresh and fresh[ts][0] > 0:
                volume, negative = fresh[ts]
                self.guard[i] = (negative / volume, volume, negative, ts, calm)

    # --- scoring -------------------------------------------------------------------------
    def _seasonal_baseline(self, ts: int) -> float | None:
        p = self.params
        if p.baseline_days == 0:
            return None
        day = ts // 86_400
        shares = [
            s
            for d, s in self.seasonal.get(str(ts // 3600 % 24), [])
            if day - p.baseline_days <= d < day
        ]
        return median(shares) if len(shares) >= p.seasonal_min_days else None

    def _short_window(self) -> tuple[float, float, int]:
        """(volume, negatives, buckets): newest buckets until ``min_volume`` posts."""
        p = self.params
        volume = negative = 0.0
        span = 0
        for v, n in reversed(self.window):
            volume, negative, span = volume + v, negative + n, span + 1
            if not self.use_volume or volume >= max(p.min_volume, 1):
                break
        return volume, negative, span

    def _baseline(self, volume: float) -> tuple[float, float]:
        """(trailing baseline share, spread of the window share around it)."""
        p = self.params
        if not self.use_volume:  # shares without counts: median and MAD
            shares = [h[0] for h in self.history]
            base = median(shares)
            return base, max(_mad_sigma(shares, base), p.min_sigma)
        hist_vol = sum(h[1] for h in self.history)
        base = sum(h[2] for h in self.history) / hist_vol
        var = min(max(base, 0.01), 0.99)
        var *= 1 - var
        # variance of the true share between buckets, beyond binomial noise (moments)
        spread = sum(h[1] * (h[0] - base) ** 2 for h in self.history)
        tau2 = max(0.0, (spread - len(self.history) * var) / hist_vol)
        sigma = math.sqrt(var / volume + tau2 + var / hist_vol)
        return base, max(sigma, p.min_sigma)

    def _signal(self, share: float, volume: float, ts: int) -> tuple[float, float, float]:
        """(raw signal, baseline share, z): raw >= 1 means anomalous against every baseline."""
        p = self.params
        base, sigma = self._baseline(volume)

        def against(center: float) -> tuple[float, float]:
            z = (share - center) / sigma
            if p.min_delta == 0:
                return z / p.z_threshold, z
            return min(z / p.z_threshold, (share - center) / p.min_delta), z

        raw, z = against(base)
        seasonal = self._seasonal_baseline(ts)
        if seasonal is not None:
            raw_s, z_s = against(seasonal)
            if raw_s < raw:
                raw, z, base = raw_s, z_s, seasonal
        return raw, base, z

    def _negative_ratio(self, negative: float, span: int) -> float:
        """Negatives in the window over what the baseline rate expects for its span."""
        if not self.history:
            return 0.0
        expected = sum(h[2] for h in self.history) / len(self.history) * span
        return negative / max(expected, 1.0)

    # --- state machine -------------------------------------------------------------------
    def update(self, bucket: Bucket) -> DetectorResult:
        """Judge the next bucket (strictly after the previous one) and advance the state."""
        p = self.params
        ts = epoch(bucket.start)
        if self.last_start is not None and ts <= self.last_start:
            raise ValueError(f"bucket {bucket.start} is not after the previous one")
        self.last_start = ts
        volume = float(bucket.volume)
        negative = bucket.negative_share * volume
        self.window.append((volume, negative))
        w_vol, w_neg, span = self._short_window()
        share = w_neg / w_vol if w_vol else 0.0
        judged = (
            w_vol > 0
            and (not self.use_volume or w_vol >= p.min_volume)
            and len(self.history) >= p.min_history
        )
        raw, base, z = self._signal(share, w_vol, ts) if judged else (0.0, share, 0.0)
        if not judged and self.history:
            base = self._baseline(max(w_vol, 1.0))[0]
        bad = judged and raw >= 1.0 and p.enabled
        score = min(1.0, max(0.0, raw / 2))
        score = score if bad else min(score, 0.49)

        calm = z < p.z_threshold / 2  # neither bad nor elevated
        state, event = self._advance(ts, bad, calm, int(volume), negative)
        if volume > 0:
            self.guard.append((bucket.negative_share, volume, negative, ts, state == "ok"))
        self._learn(elevated=not calm)
        inc = self.incident
        return DetectorResult(
            start=bucket.start,
            score=round(score, 4),
            state=state,
            negative_share=share,
            baseline_share=base,
            volume=int(w_vol),
            z=round(z, 3),
            negative_ratio=round(self._negative_ratio(w_neg, span), 3),
            window_buckets=span,
            event=event,
            incident_start=from_epoch(int(inc[0])) if inc else None,
            incident_volume=int(inc[1]) if inc else 0,
            incident_negative=round(inc[2]) if inc else 0,
        )

    def _advance(
        self, ts: int, bad: bool, calm: bool, volume: int, negative: float
    ) -> tuple[State, Event | None]:
        p = self.params
        if self.phase == "firing":
            self.firing_buckets += 1
            if self.incident is not None:
                self.incident[1] += volume
                self.incident[2] += negative
            if calm:
                self.good_streak += 1
                self.calm_acc = [self.calm_acc[0] + volume, self.calm_acc[1] + negative]
            else:
                self.good_streak, self.calm_acc = 0, [0.0, 0.0]
            if self.good_streak < p.resolve_after or not self._calm_confirms(ts):
                return "firing", None
            self.phase, self.bad_streak, self.good_streak, self.firing_buckets = "ok", 0, 0, 0
            self.cooldown_until = ts + self.bucket_s * (1 + p.cooldown_buckets)
            return "resolved", "resolved"
        if not bad and (calm or self.phase == "ok"):
            self.phase, self.bad_streak, self.incident = "ok", 0, None
            return "ok", None
        if self.bad_streak == 0 or self.incident is None:
            self.incident, self.confirm_acc = [ts, 0.0, 0.0], [0.0, 0.0]
        else:  # pending holds through elevated (not yet calm) buckets
            self.confirm_acc = [self.confirm_acc[0] + volume, self.confirm_acc[1] + negative]
        self.bad_streak += int(bad)
        self.incident[1] += volume
        self.incident[2] += negative
        if (
            self.bad_streak >= p.fire_after
            and ts >= self.cooldown_until
            and (p.fire_after == 1 or self._streak_confirms(ts))
        ):
            self.phase, self.firing_buckets, self.good_streak = "firing", 1, 0
            return "firing", "fired"
        self.phase = "pending"
        return "pending", None

    def _calm_confirms(self, ts: int) -> bool:
        """The calm streak's own posts are calm too (or too few to say otherwise)."""
        volume, negative = self.calm_acc
        if volume <= 0 or (self.use_volume and volume < self.params.min_volume):
            return True
        return self._signal(negative / volume, volume, ts)[2] < self.params.z_threshold / 2

    def _streak_confirms(self, ts: int) -> bool:
        """The posts after the streak's first bad bucket are anomalous on their own: short
        windows overlap, so one unlucky cluster of posts must not count as several bad
        buckets (with one-bucket windows this is just the later buckets being bad)."""
        volume, negative = self.confirm_acc
        if volume <= 0 or (self.use_volume and volume < self.params.min_volume / 2):
            return False
        return self._signal(negative / volume, volume, ts)[0] >= 1.0

    def _learn(self, elevated: bool) -> None:
        """Move buckets older than the short window's span into the baseline.

        Learning pauses while the watch is elevated or pending (a slow ramp must not teach
        the baseline that it is normal), buckets seen while firing are dropped, and a pause
        longer than ``lookback_buckets`` (or firing longer than ``adapt_after_buckets``)
        accepts the new level.
        """
        p = self.params
        adapt = self.firing_buckets > p.adapt_after_buckets
        assert self.last_start is not None
        horizon = self.last_start - p.window_buckets * self.bucket_s
        while self.guard and self.guard[0][3] <= horizon:
            paused = self.phase == "pending" or (self.phase == "ok" and elevated)
            if paused and not adapt and len(self.guard) <= p.lookback_buckets:
                return
            share, volume, negative, ts, calm = self.guard.popleft()
            if adapt or (calm and self.phase == "ok") or len(self.guard) >= p.lookback_buckets:
                self.history.append((share, volume, negative))
                self._accumulate_hour(int(ts), volume, negative)

    def _accumulate_hour(self, ts: int, volume: float, negative: float) -> None:
        hour = ts - ts % 3600
        acc = self.hour_acc
        if acc is not None and acc[0] != hour:
            if acc[1] > 0:
                slot = self.seasonal.setdefault(str(int(acc[0]) // 3600 % 24), [])
                slot.append([int(acc[0]) // 86_400, acc[2] / acc[1]])
                del slot[: max(0, len(slot) - self.params.baseline_days)]
            acc = None
        if acc is None:
            acc = [hour, 0.0, 0.0]
        acc[1] += volume
        acc[2] += negative
        self.hour_acc = acc
