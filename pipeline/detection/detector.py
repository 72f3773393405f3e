"""Surge detector (pure Python, no I/O): the same class runs live and offline.

Three kinds of surge, each of which a watch may enable (``kinds``):

- ``negative_share``: the share of negative posts rises (below);
- ``negative_volume``: the number of negative posts is far above its expected count;
- ``volume``: all posts are far above their expected count (a mention spike).

The count kinds compare the posts of a window with a seasonal expected count (hour of day,
day of week once known; ``pipeline.detection.counts``) learnt from calm buckets only, and
are bad when the count is at least ``z_threshold`` (count noise: negative binomial) and
``min_ratio`` times above it, with at least ``min_volume`` posts (``min_negative`` negative
posts). Their window is the newest bucket alone, or the newest buckets that are expected to
hold ``min_volume`` posts (unbiased: chosen by the expectation, not by what arrived).
All kinds share one state machine, so one incident raises one alert naming every kind that
tripped; hysteresis, confirmation, cooldown and learning apply to each.

Negative share: per bucket, the *short window* is the newest buckets holding at least
``min_volume`` posts (one bucket on a busy watch, up to ``window_buckets`` on a quiet one).
Its negative share is compared with a trailing baseline (the pooled share of the last
``lookback_buckets`` calm buckets; spread = binomial noise + the extra bucket-to-bucket
variance seen in the baseline) and, once ``seasonal_min_days`` days are known, with the
median share of the same hour on previous days. A bucket is *bad* when the share is at least
``z_threshold`` spreads and ``min_delta`` above every baseline. Hysteresis: ``fire_after``
bad buckets in a row (elevated ones hold the streak) fire, provided the posts after the
first bad bucket are anomalous on their own (windows overlap; one cluster of posts must not
count twice); ``resolve_after`` calm buckets whose own posts are calm resolve;
``cooldown_buckets`` must pass before the next alert. The baseline learns only calm buckets,
after a delay of ``window_buckets``, and pauses while the watch is elevated or pending, so a
slow ramp does not become the norm; after ``adapt_after_buckets`` of firing a lasting new
level is accepted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from statistics import median
from typing import Any, Literal

from pipeline.aggregation.bucket import Bucket, epoch, from_epoch
from pipeline.config import DetectorParams
from pipeline.detection.counts import Count, CountBaseline, SeasonalProfile
from pipeline.schemas import ALERT_KINDS, SEVERITIES, AlertKind, Severity

State = Literal["ok", "pending", "firing", "resolved"]
Event = Literal["fired", "escalated", "resolved"]
MAD_TO_SIGMA = 1.4826
COUNT_OF: dict[AlertKind, Count] = {"volume": "volume", "negative_volume": "negative"}
COUNT_PROFILE_MIN_DAYS = 1  # days before the daily rhythm of counts is used
SHARE_OK, COUNTS_OK = 1, 2  # what a judged bucket may teach: the share and/or count baselines


@dataclass(frozen=True)
class CountSignal:
    """A count kind's verdict on the newest window."""

    observed: float = 0.0
    expected: float = 0.0
    z: float = 0.0
    raw: float = 0.0  # >= 1: bad
    calm: bool = True

    @property
    def ratio(self) -> float:
        return self.observed / max(self.expected, 1e-3)


@dataclass(frozen=True)
class DetectorResult:
    """The verdict on one bucket. ``score >= 0.5`` exactly when the bucket counted as bad.

    ``kinds``: the kinds bad in this bucket (on ``fired``: every kind the alert names).
    ``expected_volume`` / ``volume_ratio``: the count window's posts against their seasonal
    expectation; ``negative_ratio``: the same for negative posts. ``incident_expected_*``:
    expected posts / negative posts over the incident, for the alert's reasons.
    """

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
    kinds: tuple[AlertKind, ...] = ()
    expected_volume: float = 0.0
    volume_ratio: float = 0.0
    incident_expected_volume: float = 0.0
    incident_expected_negative: float = 0.0
    incident_share_z: float = 0.0  # while firing: the incident's share against its baseline
    severity: Severity | None = None  # on ``fired`` and ``escalated``

    @property
    def incident_share(self) -> float:
        return self.incident_negative / self.incident_volume if self.incident_volume else 0.0


def _mad_sigma(values: Sequence[float], center: float) -> float:
    return MAD_TO_SIGMA * median(abs(v - center) for v in values)


def _pad(values: Sequence[float] | None, n: int) -> list[float]:
    """A saved accumulator, padded with zeros to ``n`` (state written by older versions)."""
    return [*(values or []), *[0.0] * n][:n]


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
        self.count_kinds = [k for k in p.kinds if k in COUNT_OF] if use_volume else []
        self.history: deque[tuple[float, float, float]] = deque(maxlen=p.lookback_buckets)
        self.counts = CountBaseline(p.lookback_buckets)
        self.profile = SeasonalProfile(p.baseline_days, COUNT_PROFILE_MIN_DAYS)
        # (volume, negatives, start) of the newest buckets
        self.window: deque[tuple[float, float, int]] = deque(maxlen=p.window_buckets)
        self.phase: Literal["ok", "pending", "firing"] = "ok"
        self.bad_streak = self.good_streak = self.firing_buckets = 0
        # [start, volume, negatives, expected volume, expected negatives]
        self.incident: list[float] | None = None
        self.reasons: list[AlertKind] = []  # kinds bad since the incident began
        self.severity = -1  # index in SEVERITIES of the firing incident's severity
        self.kinds_told = 0  # kinds the alert named when it opened or last escalated
        self.kind_streaks: dict[str, int] = {}  # while firing: bad buckets in a row per kind
        # volume, negatives, expected volume, expected negatives of the calm streak / of the
        # bad streak after its first bucket
        self.calm_acc = [0.0] * 4
        self.confirm_acc = [0.0] * 4
        # (share, volume, negatives, start, SHARE_OK | COUNTS_OK) of buckets not yet learnt
        self.guard: deque[tuple[float, float, float, int, int]] = deque()
        self.cooldowns: dict[str, int] = {}  # kind -> no new alert of it before this time
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
            "counts": self.counts.to_state(),
            "profile": self.profile.to_state(),
            "window": [list(w) for w in self.window],
            "phase": self.phase,
            "bad_streak": self.bad_streak,
            "good_streak": self.good_streak,
            "firing_buckets": self.firing_buckets,
            "incident": self.incident,
            "reasons": self.reasons,
            "severity": self.severity,
            "kinds_told": self.kinds_told,
            "kind_streaks": self.kind_streaks,
            "calm_acc": self.calm_acc,
            "confirm_acc": self.confirm_acc,
            "guard": [list(g) for g in self.guard],
            "cooldowns": self.cooldowns,
            "last_start": self.last_start,
            "seasonal": self.seasonal,
            "hour_acc": self.hour_acc,
        }

    def _load(self, state: dict[str, Any]) -> None:
        p = self.params
        self.history.extend(tuple(h) for h in state.get("history", []))
        self.counts = CountBaseline(p.lookback_buckets, state.get("counts", []))
        self.profile = SeasonalProfile(
            p.baseline_days, COUNT_PROFILE_MIN_DAYS, state.get("profile")
        )
        saved = state.get("window", [])
        last = state.get("last_start") or 0
        self.window.extend(  # older states kept no start times: buckets were contiguous
            (w[0], w[1], int(w[2]) if len(w) > 2 else last - (len(saved) - 1 - i) * self.bucket_s)
            for i, w in enumerate(saved)
        )
        self.phase = state.get("phase", "ok")
        self.bad_streak = state.get("bad_streak", 0)
        self.good_streak = state.get("good_streak", 0)
        self.firing_buckets = state.get("firing_buckets", 0)
        self.incident = _pad(state["incident"], 5) if state.get("incident") else None
        self.reasons = list(state.get("reasons", []))
        self.severity = state.get("severity", -1)
        self.kinds_told = state.get("kinds_told", 0)
        self.kind_streaks = state.get("kind_streaks", {})
        self.calm_acc = _pad(state.get("calm_acc"), 4)
        self.confirm_acc = _pad(state.get("confirm_acc"), 4)
        self.guard.extend(  # older states kept a bool: calm for every baseline
            (*g[:4], (SHARE_OK | COUNTS_OK) * g[4] if isinstance(g[4], bool) else g[4])
            for g in state.get("guard", [])
        )
        old = state.get("cooldown_until", 0)  # one cooldown for every kind, before kinds
        self.cooldowns = state.get("cooldowns", dict.fromkeys(ALERT_KINDS, old))
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
            (*fresh.get(self.last_start - (n - 1 - i) * self.bucket_s, old[:2]), old[2])
            for i, old in enumerate(self.window)
        ]
        self.window.clear()
        self.window.extend(refreshed)
        for i, (_, _, _, ts, learnable) in enumerate(self.guard):
            if ts in fresh and fresh[ts][0] > 0:
                volume, negative = fresh[ts]
                self.guard[i] = (negative / volume, volume, negative, ts, learnable)

    # --- negative share ------------------------------------------------------------------
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
        for v, n, _ in reversed(self.window):
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

    # --- counts --------------------------------------------------------------------------
    def _minimum(self, kind: AlertKind) -> int:
        """Posts (negative posts) a count window needs before ``kind`` may be bad."""
        return self.params.min_volume if kind == "volume" else self.params.min_negative

    def _count_signal(
        self, kind: AlertKind, observed: float, factors: float, minimum: float | None = None
    ) -> CountSignal:
        """``kind``'s count ``observed`` over buckets whose seasonal factors sum to
        ``factors``, against the calm baseline; below ``minimum`` posts never bad."""
        p = self.params
        count = COUNT_OF[kind]
        expected, z = self.counts.judge(count, self.profile, observed, factors)
        ratio = observed / max(expected, 1e-3)
        strength = math.log(ratio) / math.log(p.min_ratio) if ratio > 0 else -1.0
        raw = min(z / p.count_z_threshold, strength)
        if observed < (self._minimum(kind) if minimum is None else minimum):
            raw = min(raw, 0.99)
        calm = z < p.count_z_threshold / 2 or strength < 0.5
        return CountSignal(observed, expected, z, raw, calm)

    def _count_window(self, kind: AlertKind) -> CountSignal:
        """The stronger of the newest bucket alone and the newest buckets expected to hold
        enough posts (at most ``window_buckets``)."""
        count = COUNT_OF[kind]
        i = 0 if count == "volume" else 1
        level = self.counts.model(count, self.profile)[0]
        needed = max(self._minimum(kind), 1)
        observed = factors = 0.0
        newest: CountSignal | None = None
        for span, bucket in enumerate(reversed(self.window), start=1):
            observed += bucket[i]
            factors += self.profile.factor(bucket[2], count)
            if span == 1:
                newest = self._count_signal(kind, observed, factors)
            if level * factors >= needed:
                break
        assert newest is not None
        if span == 1:
            return newest
        wide = self._count_signal(kind, observed, factors)
        return newest if newest.raw >= wide.raw else wide

    def _expected(self, count: Count, ts: int) -> float:
        """Expected posts (negative posts) of the bucket at ``ts``."""
        if not self.counts:
            return 0.0
        return self.counts.model(count, self.profile)[0] * self.profile.factor(ts, count)

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
        self.window.append((volume, negative, ts))

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
        share_on = "negative_share" in p.kinds
        raws = {"negative_share": raw} if share_on else {}
        share_calm = not share_on or z < p.z_threshold / 2  # neither bad nor elevated
        counts_calm = True
        signals: dict[AlertKind, CountSignal] = {}
        if len(self.counts) >= p.min_history:
            for kind in self.count_kinds:
                signals[kind] = signal = self._count_window(kind)
                raws[kind] = signal.raw
                counts_calm = counts_calm and signal.calm
        calm = share_calm and counts_calm
        bad_kinds = tuple(k for k in ALERT_KINDS if raws.get(k, 0.0) >= 1.0 and p.enabled)
        top = max(raws.values(), default=0.0)
        score = min(1.0, max(0.0, top / 2))
        score = score if bad_kinds else min(score, 0.49)

        expected = (self._expected("volume", ts), self._expected("negative", ts))
        state, event = self._advance(ts, bad_kinds, calm, (volume, negative, *expected))
        learnable = self._learnable(state, share_calm, counts_calm)
        self.guard.append((bucket.negative_share, volume, negative, ts, learnable))
        # Elevated counts do not pause learning (bad ones are not learnt): before the daily
        # rhythm is known, every morning would otherwise look like a slow ramp.
        self._learn(elevated=not share_calm)
        inc = self.incident
        volume_signal = signals.get("volume", CountSignal())
        negative_signal = signals.get("negative_volume")
        firing = state == "firing"
        result = DetectorResult(
            start=bucket.start,
            score=round(score, 4),
            state=state,
            negative_share=share,
            baseline_share=base,
            volume=int(w_vol),
            z=round(z, 3),
            negative_ratio=round(
                negative_signal.ratio if negative_signal else self._negative_ratio(w_neg, span),
                3,
            ),
            window_buckets=span,
            event=event,
            incident_start=from_epoch(int(inc[0])) if inc else None,
            incident_volume=int(inc[1]) if inc else 0,
            incident_negative=round(inc[2]) if inc else 0,
            kinds=tuple(k for k in ALERT_KINDS if k in self.reasons) if firing else bad_kinds,
            expected_volume=round(volume_signal.expected, 3),
            volume_ratio=round(volume_signal.ratio, 3),
            incident_expected_volume=round(inc[3], 3) if inc else 0.0,
            incident_expected_negative=round(inc[4], 3) if inc else 0.0,
            incident_share_z=round(self._incident_share_z(ts), 3) if firing else 0.0,
        )
        return self._escalation(result) if firing else result

    def _escalation(self, result: DetectorResult) -> DetectorResult:
        """While firing: the incident's severity, and ``escalated`` when it or the kinds
        grew since the alert opened (the alert is updated, and re-notified where its new
        severity reaches a channel's minimum)."""
        level = SEVERITIES.index(severity_for(result, self.params))
        event = result.event
        if event is None and (level > self.severity or len(result.kinds) > self.kinds_told):
            event = "escalated"
        if event is None:
            return result
        self.severity, self.kinds_told = max(level, self.severity), len(result.kinds)
        return replace(result, event=event, severity=SEVERITIES[self.severity])

    def _incident_share_z(self, ts: int) -> float:
        """z of the incident's negative share against the share baseline (0 without one)."""
        if not self.incident or self.incident[1] <= 0 or not self.history:
            return 0.0
        return self._signal(self.incident[2] / self.incident[1], self.incident[1], ts)[2]

    def _negative_ratio(self, negative: float, span: int) -> float:
        """Negatives in the window over what the baseline rate expects for its span."""
        if not self.history:
            return 0.0
        expected = sum(h[2] for h in self.history) / len(self.history) * span
        return negative / max(expected, 1.0)

    def _advance(
        self, ts: int, bad_kinds: tuple[AlertKind, ...], calm: bool, counts: tuple[float, ...]
    ) -> tuple[State, Event | None]:
        """``counts``: the bucket's volume, negatives, expected volume, expected negatives."""
        p = self.params
        bad = bool(bad_kinds)
        if self.phase == "firing":
            self.firing_buckets += 1
            for kind in ALERT_KINDS:  # a kind joins a firing incident as it would fire it
                self.kind_streaks[kind] = (
                    self.kind_streaks.get(kind, 0) + 1 if kind in bad_kinds else 0
                )
                if self.kind_streaks[kind] >= p.fire_after and kind not in self.reasons:
                    self.reasons.append(kind)
            if self.incident is not None:
                self._accumulate(self.incident, counts, offset=1)
            if calm:
                self.good_streak += 1
                self._accumulate(self.calm_acc, counts)
            else:
                self.good_streak, self.calm_acc = 0, [0.0] * 4
            if self.good_streak < p.resolve_after or not self._calm_confirms(ts):
                return "firing", None
            self.phase, self.bad_streak, self.good_streak, self.firing_buckets = "ok", 0, 0, 0
            self.severity, self.kinds_told, self.kind_streaks = -1, 0, {}
            until = ts + self.bucket_s * (1 + p.cooldown_buckets)
            self.cooldowns.update(dict.fromkeys(self.reasons, until))
            return "resolved", "resolved"
        if not bad and (calm or self.phase == "ok"):
            self.phase, self.bad_streak, self.incident, self.reasons = "ok", 0, None, []
            return "ok", None
        if self.bad_streak == 0 or self.incident is None:
            self.incident, self.confirm_acc, self.reasons = [ts, 0.0, 0.0, 0.0, 0.0], [0.0] * 4, []
        else:  # pending holds through elevated (not yet calm) buckets
            self._accumulate(self.confirm_acc, counts)
        self.reasons += [k for k in bad_kinds if k not in self.reasons]
        self.bad_streak += int(bad)
        self._accumulate(self.incident, counts, offset=1)
        if self.bad_streak >= p.fire_after:
            confirmed = (
                self._streak_confirms(ts) if p.fire_after > 1 else list(bad_kinds or self.reasons)
            )
            # each kind has its own cooldown: a mention spike right after a share alert fires
            eligible = [
                k for k in ALERT_KINDS
                if (k in confirmed or k in bad_kinds) and ts >= self.cooldowns.get(k, 0)
            ]  # fmt: skip
            if any(k in confirmed for k in eligible):
                self.reasons = eligible
                self.phase, self.firing_buckets, self.good_streak = "firing", 1, 0
                return "firing", "fired"
        self.phase = "pending"
        return "pending", None

    @staticmethod
    def _accumulate(acc: list[float], counts: tuple[float, ...], offset: int = 0) -> None:
        for i, value in enumerate(counts):
            acc[offset + i] += value

    def _calm_confirms(self, ts: int) -> bool:
        """The calm streak's own posts are calm too (or too few to say otherwise)."""
        volume, negative, expected_volume, expected_negative = self.calm_acc
        p = self.params
        share_judged = volume > 0 and (not self.use_volume or volume >= p.min_volume)
        if "negative_share" in p.kinds and share_judged:
            share_z = self._signal(negative / volume, volume, ts)[2]
            if share_z >= p.z_threshold / 2:
                return False
        for kind in self.count_kinds:
            observed, expected = (
                (volume, expected_volume) if kind == "volume" else (negative, expected_negative)
            )
            if expected > 0 and not self._judge_total(kind, observed, expected).calm:
                return False
        return True

    def _streak_confirms(self, ts: int) -> list[AlertKind]:
        """The kinds whose posts after the streak's first bad bucket are anomalous on their
        own: short windows overlap, so one unlucky cluster of posts must not count as
        several bad buckets (with one-bucket windows this is just the later buckets being
        bad). Half the usual minimum of posts suffices here."""
        volume, negative, expected_volume, expected_negative = self.confirm_acc
        p = self.params
        if volume <= 0:
            return []
        confirmed: list[AlertKind] = []
        share_judged = not self.use_volume or volume >= p.min_volume / 2
        share_bad = share_judged and self._signal(negative / volume, volume, ts)[0] >= 1.0
        if "negative_share" in self.reasons and share_bad:
            confirmed.append("negative_share")
        for kind in self.count_kinds:
            observed, expected = (
                (volume, expected_volume) if kind == "volume" else (negative, expected_negative)
            )
            if kind not in self.reasons or expected <= 0:
                continue
            if self._judge_total(kind, observed, expected, self._minimum(kind) / 2).raw >= 1.0:
                confirmed.append(kind)
        return confirmed

    def _judge_total(
        self, kind: AlertKind, observed: float, expected: float, minimum: float | None = None
    ) -> CountSignal:
        """A count kind's verdict on a total whose expectation is already known."""
        level = self.counts.model(COUNT_OF[kind], self.profile)[0]
        factors = expected / level if level > 0 else 0.0
        return self._count_signal(kind, observed, factors, minimum)

    def _learnable(self, state: State, share_calm: bool, counts_calm: bool) -> int:
        """What a judged bucket may teach: everything when the watch is ``ok``; while it
        fires, the baselines of the kinds not part of the incident, if calm (a mention spike
        must not stop the share baseline from learning, nor a share spike the counts')."""
        if state == "ok":
            return SHARE_OK | COUNTS_OK
        if state != "firing":
            return 0
        share = share_calm and "negative_share" not in self.reasons
        counts = counts_calm and not any(k in COUNT_OF for k in self.reasons)
        return SHARE_OK * share | COUNTS_OK * counts

    def _learning(self, part: int) -> bool:
        """Whether the share (``SHARE_OK``) or count baselines learn in the current phase."""
        if self.phase == "ok":
            return True
        if self.phase != "firing":
            return False
        kinds = ("negative_share",) if part == SHARE_OK else tuple(COUNT_OF)
        return not any(k in self.reasons for k in kinds)

    def _learn(self, elevated: bool) -> None:
        """Move buckets older than the short window's span into the baselines.

        Learning pauses while the watch is elevated or pending (a slow ramp must not teach
        the baseline that it is normal), buckets of a firing incident's kinds are dropped,
        and a pause longer than ``lookback_buckets`` (or firing longer than
        ``adapt_after_buckets``) accepts the new level.
        """
        p = self.params
        adapt = self.firing_buckets > p.adapt_after_buckets
        assert self.last_start is not None
        horizon = self.last_start - p.window_buckets * self.bucket_s
        while self.guard and self.guard[0][3] <= horizon:
            paused = self.phase == "pending" or (self.phase == "ok" and elevated)
            if paused and not adapt and len(self.guard) <= p.lookback_buckets:
                return
            share, volume, negative, ts, learnable = self.guard.popleft()
            force = adapt or len(self.guard) >= p.lookback_buckets
            if volume > 0 and (force or (learnable & SHARE_OK and self._learning(SHARE_OK))):
                self.history.append((share, volume, negative))
                self._accumulate_hour(int(ts), volume, negative)
            if self.count_kinds and (
                force or (learnable & COUNTS_OK and self._learning(COUNTS_OK))
            ):
                self.counts.append(volume, negative, ts)
            if self.count_kinds:  # every bucket: the median over days keeps incidents out
                self.profile.add(ts, volume, negative)

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


def severity_for(result: DetectorResult, params: DetectorParams) -> Severity:
    """How urgent an incident is, from the kinds that tripped.

    - ``negative_share``: by how far the share rose above its baseline (+0.2 medium, +0.3
      high, +0.45 critical), one level higher when negatives also run at ``volume_ratio``
      times their expected count (a rise below +0.2 stays low: during a mention spike the
      negatives' count says little);
    - ``negative_volume``: medium when negatives run at ``volume_ratio`` times their
      expected count and the share rose too (by ``min_delta / 3`` and ``z_threshold``
      spreads), high at three times that ratio; a surge of negatives that the surge of
      posts explains stays low;
    - ``volume`` alone (a mention spike with a normal negative share): low.
    """
    delta = result.incident_share - result.baseline_share
    negative_ratio = result.incident_negative / max(result.incident_expected_negative, 1.0)
    level = 0
    if "negative_share" in result.kinds:
        level = sum(delta >= edge for edge in (0.2, 0.3, 0.45))
        level += level > 0 and negative_ratio >= params.volume_ratio
    if (
        "negative_volume" in result.kinds
        and delta >= params.min_delta / 3
        and result.incident_share_z >= params.z_threshold
        and negative_ratio >= params.volume_ratio
    ):
        level = max(level, 1 + (negative_ratio >= 3 * params.volume_ratio))
    return SEVERITIES[min(level, len(SEVERITIES) - 1)]
