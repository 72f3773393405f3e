"""NAB-style scoring of alert openings against labeled surge windows.

A *detection* is a bucket where a detector's alert opens. The scoring window of a label runs
from its first bucket to its last plus ``tolerance`` buckets. NAB's rules
(``nab/sweeper.py``): the first detection in a window earns ``A_TP`` x a scaled sigmoid of its
relative position (1 at the window's start, 0 at its right edge); later ones in the window are
free; a window without one costs ``A_FN``; a detection outside every window costs ``A_FP`` x
the scaled sigmoid of its distance past the previous window (``A_FP`` when far). The sum is
normalised to 0-100: the null detector scores 0 and the perfect one (a detection at each
window's start) 100; a detector can score below 0. Detections in the first ``probation``
buckets are ignored (no label starts there).

False alerts count every detection outside the windows, level shifts and holidays included
(they are unlabeled: a good detector does not alert on them); each is attributed to the
planted effect next to it, if any, to show what causes them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.alert_quality.generate import Label, SeriesInfo

PROFILES = {  # (A_TP, A_FP, A_FN), NAB's config/profiles.json
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.055, 2.0),
}
OUTLIER_SPAN, SHIFT_SPAN, HOLIDAY_TAIL, SURGE_TAIL = 6, 24, 24, 72  # buckets


@dataclass(frozen=True)
class Detection:
    """An alert opening at bucket ``index``, naming the surge kinds that tripped."""

    index: int
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class WindowOutcome:
    """A label's window ``[start, right]`` and the first detection in it (if any)."""

    label: Label
    right: int
    detection: Detection | None

    @property
    def delay(self) -> int | None:
        return None if self.detection is None else self.detection.index - self.label.start

    @property
    def kind_matched(self) -> bool:
        return self.detection is not None and self.label.kind in self.detection.kinds


@dataclass(frozen=True)
class SeriesScore:
    """One detector on one series."""

    info: SeriesInfo
    windows: tuple[WindowOutcome, ...]
    false_alerts: tuple[tuple[Detection, str], ...]  # (detection, cause)
    nab_raw: dict[str, float]
    scored_days: float


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: ~1 at -1 (window start), 0 at 0 (right edge), -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2 / (1 + math.exp(5 * position)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def windows_of(labels: Iterable[Label], tolerance: int, n_buckets: int) -> list[tuple[int, int]]:
    """``(start, right)`` (inclusive) of each label's scoring window, in time order."""
    return sorted((lb.start, min(lb.end - 1 + tolerance, n_buckets - 1)) for lb in labels)


def _window_of(index: int, windows: Sequence[tuple[int, int]]) -> int | None:
    return next((w for w, (a, b) in enumerate(windows) if a <= index <= b), None)


def nab_raw(
    detections: Iterable[int],
    windows: Sequence[tuple[int, int]],
    weights: tuple[float, float, float],
    probation: int = 0,
) -> float:
    """NAB's raw score of one series (``windows`` sorted and disjoint)."""
    a_tp, a_fp, a_fn = weights
    best: dict[int, float] = {}
    score = 0.0
    for i in sorted(set(detections)):
        if i < probation:
            continue
        w = _window_of(i, windows)
        if w is not None:
            start, right = windows[w]
            tp = scaled_sigmoid(-(right - i + 1) / (right - start + 1)) * a_tp / MAX_TP
            best[w] = max(best.get(w, -a_fn), tp)
            continue
        before = [(a, b) for a, b in windows if b < i]
        if before:
            a, b = before[-1]
            score += a_fp * scaled_sigmoid((i - b) / max(b - a, 1))
        else:
            score += a_fp * scaled_sigmoid(3.0)
    return score + sum(best.values()) - a_fn * (len(windows) - len(best))


def nab_normalised(raw: float, n_windows: int, weights: tuple[float, float, float]) -> float:
    """100 x (raw - null) / (perfect - null): null = -A_FN per window, perfect = A_TP."""
    a_tp, _, a_fn = weights
    return 100 * (raw + a_fn * n_windows) / ((a_tp + a_fn) * n_windows)


def false_alert_cause(index: int, info: SeriesInfo, windows: Sequence[tuple[int, int]]) -> str:
    """The planted effect a false alert follows: outlier, level_shift, holiday, after_surge
    (within 6 h after a window), else none (noise, seasonality, drift)."""
    spans = {"outlier": OUTLIER_SPAN, "level_shift": SHIFT_SPAN}
    for effect in info.effects:
        if effect.kind in spans and effect.start <= index < effect.start + spans[effect.kind]:
            return effect.kind
    for effect in info.effects:
        if effect.kind == "holiday" and effect.start <= index < effect.end + HOLIDAY_TAIL:
            return "holiday"
    if any(b < index <= b + SURGE_TAIL for _, b in windows):
        return "after_surge"
    return "none"


def score_series(
    info: SeriesInfo, detections: Sequence[Detection], tolerance: int, probation: int
) -> SeriesScore:
    """Windows hit, false alerts and NAB raw scores of one detector on one series."""
    labels = sorted(info.labels, key=lambda lb: lb.start)
    windows = windows_of(labels, tolerance, info.n_buckets)
    scored = sorted((d for d in detections if d.index >= probation), key=lambda d: d.index)
    outcomes = tuple(
        WindowOutcome(lb, right, next((d for d in scored if start <= d.index <= right), None))
        for lb, (start, right) in zip(labels, windows, strict=True)
    )
    false_alerts = tuple(
        (d, false_alert_cause(d.index, info, windows))
        for d in scored
        if _window_of(d.index, windows) is None
    )
    indices = [d.index for d in scored]
    nab = {name: nab_raw(indices, windows, w, probation) for name, w in PROFILES.items()}
    days = (info.n_buckets - probation) * info.bucket_s / 86_400
    return SeriesScore(info, outcomes, false_alerts, nab, days)


def _percentile(values: Sequence[int], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass
class Summary:
    """Metrics of one detector over a group of series (and of windows)."""

    series: int = 0
    windows: int = 0
    detected: int = 0
    kind_matched: int = 0
    false_alerts: int = 0
    watch_days: float = 0.0
    nab: dict[str, float | None] = field(default_factory=dict)
    delays: list[int] = field(default_factory=list)
    causes: dict[str, int] = field(default_factory=dict)
    false_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def recall(self) -> float | None:
        return self.detected / self.windows if self.windows else None

    @property
    def false_alerts_per_watch_day(self) -> float | None:
        return self.false_alerts / self.watch_days if self.watch_days else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "windows": self.windows,
            "detected": self.detected,
            "kind_matched": self.kind_matched,
            "recall": self.recall,
            "false_alerts": self.false_alerts,
            "false_alerts_per_watch_day": self.false_alerts_per_watch_day,
            "nab": self.nab,
            "delay_median": _percentile(self.delays, 50),
            "delay_p95": _percentile(self.delays, 95),
            "false_alert_causes": self.causes,
            "false_alert_kinds": self.false_kinds,
        }


WindowFilter = Callable[[SeriesScore, WindowOutcome], bool]


def summarize(scores: Sequence[SeriesScore], window_filter: WindowFilter | None = None) -> Summary:
    """Totals over ``scores``; ``window_filter(score, outcome)`` narrows the windows counted
    for recall and delays (NAB and false alerts always cover every window of the series)."""
    out = Summary(series=len(scores))
    raw = Counter[str]()
    n_windows = 0
    causes, false_kinds = Counter[str](), Counter[str]()
    for s in scores:
        n_windows += len(s.windows)
        raw.update(s.nab_raw)
        out.false_alerts += len(s.false_alerts)
        out.watch_days += s.scored_days
        causes.update(cause for _, cause in s.false_alerts)
        false_kinds.update(k for d, _ in s.false_alerts for k in d.kinds)
        for o in s.windows:
            if window_filter is not None and not window_filter(s, o):
                continue
            out.windows += 1
            if o.delay is not None:
                out.detected += 1
                out.kind_matched += o.kind_matched
                out.delays.append(o.delay)
    out.causes, out.false_kinds = dict(causes), dict(false_kinds)
    out.nab = {
        name: nab_normalised(raw[name], n_windows, w) if n_windows else None
        for name, w in PROFILES.items()
    }
    return out
