"""Offline series: resample irregular rows to buckets, run the detector, label each row.

``detect_series`` runs a fresh detector over buckets or a DataFrame.

Three kinds of input: a negative ``share`` per row (optionally weighted by a volume column),
a ``count`` of negative posts per row with a volume column, or a plain ``volume`` series
(post counts per time step, no sentiment), judged by the mention-spike detector alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from pipeline.aggregation.bucket import Bucket, from_epoch
from pipeline.config import DetectorParams
from pipeline.detection.detector import DetectorResult, SpikeDetector

ValueKind = Literal["auto", "share", "count", "volume"]
VALUE_KINDS: tuple[ValueKind, ...] = ("auto", "share", "count", "volume")


def parse_times(column: pd.Series) -> pd.Series:
    """Epoch seconds (float; NaN when unparseable) from ISO strings or epoch numbers."""
    if pd.api.types.is_numeric_dtype(column):
        return pd.to_numeric(column, errors="coerce").astype(float)
    times = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    delta = times - pd.Timestamp(0, tz="UTC")
    return delta.dt.total_seconds()


def auto_bucket_s(seconds: pd.Series, default: int) -> int:
    """``default``, or the median spacing of the timestamps when the series is sparser."""
    distinct = np.unique(seconds.dropna().to_numpy())
    if len(distinct) < 3:
        return default
    spacing = float(np.median(np.diff(distinct)))
    return max(default, int(np.ceil(spacing)))


def resample(
    frame: pd.DataFrame,
    time_col: str,
    value_col: str,
    volume_col: str | None = None,
    bucket_s: int = 60,
    value_kind: ValueKind = "auto",
) -> tuple[list[Bucket], pd.Series]:
    """Buckets of ``bucket_s`` from rows, and each row's bucket start (NaN for bad rows).

    ``value`` is a negative share (0..1) per row (weighted by ``volume`` when given) or,
    with ``value_kind='count'`` (``auto``: any value above 1), a count of negative posts.
    Without a volume column each row counts once and the bucket share is the mean value.
    With ``value_kind='volume'`` ``value`` is a number of posts (no volume column); the
    buckets between the first and the last are contiguous (a step without rows had none).
    """
    if value_kind == "volume" and volume_col is not None:
        raise ValueError(
            "--value-kind volume reads post counts from the value column; drop --volume-col"
        )
    for col in (time_col, value_col, volume_col):
        if col is not None and col not in frame.columns:
            raise ValueError(f"column {col!r} not in the input (has {list(frame.columns)})")
    seconds = parse_times(frame[time_col])
    values = pd.to_numeric(frame[value_col], errors="coerce")
    valid = seconds.notna() & values.notna()
    starts = (seconds // bucket_s * bucket_s).where(valid)
    if value_kind == "volume":
        if (values[valid] < 0).any():
            raise ValueError(f"column {value_col!r} holds negative post counts")
        volume, negative = values, pd.Series(0.0, index=frame.index)
    elif volume_col is None:
        if (values[valid] > 1).any():
            raise ValueError("values above 1 need --volume-col (they are read as counts)")
        volume = pd.Series(1.0, index=frame.index)
        negative = values
    else:
        volume = pd.to_numeric(frame[volume_col], errors="coerce").fillna(0).clip(lower=0)
        is_count = value_kind == "count" or (value_kind == "auto" and (values[valid] > 1).any())
        negative = values if is_count else values * volume
    grouped = (
        pd.DataFrame({"start": starts, "volume": volume, "negative": negative})[valid]
        .groupby("start", sort=True)
        .sum()
    )
    if value_kind == "volume" and len(grouped):
        grouped = grouped.reindex(
            np.arange(grouped.index.min(), grouped.index.max() + bucket_s, bucket_s),
            fill_value=0.0,
        )
    buckets = [
        Bucket(
            start=from_epoch(int(start)),
            volume=round(row.volume),
            negative=round(row.negative),
            negative_share=min(1.0, max(0.0, row.negative / row.volume)) if row.volume else 0.0,
        )
        for start, row in grouped.iterrows()
    ]
    return buckets, starts


def label_rows(
    frame: pd.DataFrame,
    time_col: str,
    value_col: str,
    volume_col: str | None = None,
    *,
    params: DetectorParams | None = None,
    bucket_s: int | None = None,
    default_bucket_s: int = 60,
    value_kind: ValueKind = "auto",
) -> tuple[pd.DataFrame, int]:
    """The input rows plus ``score`` and ``state`` of their bucket; and the bucket width.

    A ``volume`` series is judged by the mention-spike kind alone (it has no sentiment).
    """
    width = bucket_s or auto_bucket_s(parse_times(frame[time_col]), default_bucket_s)
    buckets, starts = resample(frame, time_col, value_col, volume_col, width, value_kind)
    params = params or DetectorParams()
    if value_kind == "volume":
        params = params.model_copy(update={"kinds": ("volume",)})
    counted = volume_col is not None or value_kind == "volume"
    detector = SpikeDetector(params, bucket_s=width, use_volume=counted)
    results = {int(b.start.timestamp()): detector.update(b) for b in buckets}
    out = frame.copy()
    out["score"] = [results[int(s)].score if pd.notna(s) else np.nan for s in starts]
    out["state"] = [results[int(s)].state if pd.notna(s) else "" for s in starts]
    return out, width


def detect_series(
    data: Iterable[Bucket] | pd.DataFrame,
    params: DetectorParams | None = None,
    *,
    bucket_s: int = 60,
    use_volume: bool | None = None,
    time_col: str = "time",
    value_col: str = "value",
    volume_col: str | None = None,
) -> list[DetectorResult]:
    """Run a fresh detector over a series: buckets, or a DataFrame resampled to buckets.

    A DataFrame's irregular timestamps are grouped into ``bucket_s`` buckets (see
    ``series.resample``); without a volume column, volume gates and signals are off.
    """
    if isinstance(data, list | tuple) or not hasattr(data, "columns"):
        buckets = sorted(data, key=lambda b: b.start)
        volume_known = True if use_volume is None else use_volume
    else:
        buckets, _ = resample(data, time_col, value_col, volume_col, bucket_s)
        volume_known = volume_col is not None if use_volume is None else use_volume
    detector = SpikeDetector(params, bucket_s=bucket_s, use_volume=volume_known)
    return [detector.update(b) for b in buckets]
