"""Settings of the spike detector: ``DetectorParams`` (the defaults every watch starts from,
``OPINION_DETECTOR_<NAME>``) and the live driver's own timing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.config.types import AlertKindName
from pipeline.schemas import ALERT_KINDS


class DetectorParams(BaseModel):
    """Detector parameters. Defaults come from ``OPINION_DETECTOR_<NAME>``; a watch's
    ``detector`` object overrides any of them by name (docs/alerting.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="False: never fire (scores are still computed).")
    kinds: tuple[AlertKindName, ...] = Field(
        ALERT_KINDS,
        min_length=1,
        description="Kinds of surge that may fire (JSON list of negative_share, "
        "negative_volume, volume); a watch may narrow them.",
    )
    window_buckets: int = Field(
        10, ge=1, description="Most buckets the short window spans to reach min_volume posts."
    )
    lookback_buckets: int = Field(
        120, ge=5, description="Calm non-empty buckets in the trailing baseline."
    )
    min_history: int = Field(
        10, ge=3, description="Calm buckets needed before the detector can fire."
    )
    min_volume: int = Field(
        20, ge=0, description="Posts the short window needs before it is judged."
    )
    z_threshold: float = Field(
        3.0, gt=0, description="z of the negative share (vs baseline) that makes a bucket bad."
    )
    min_delta: float = Field(
        0.15, ge=0, le=1, description="And the share must exceed the baseline by this much."
    )
    min_sigma: float = Field(0.02, gt=0, description="Floor of the share's spread (share units).")
    count_z_threshold: float = Field(
        4.0, gt=0, description="z of a post count (vs its expected count) that makes a bucket bad."
    )
    min_ratio: float = Field(
        2.0, gt=1, description="Volume kinds: posts at least this many times their expected count."
    )
    min_negative: int = Field(
        10, ge=0, description="Negative posts a window needs before negative_volume may fire."
    )
    volume_ratio: float = Field(
        3.0, ge=1, description="Negatives this many times their usual rate raise the severity."
    )
    fire_after: int = Field(
        2, ge=1, description="Bad buckets (no calm one in between) that fire an alert."
    )
    resolve_after: int = Field(
        3, ge=1, description="Consecutive calm buckets to resolve a firing watch."
    )
    cooldown_buckets: int = Field(
        60, ge=0, description="Buckets after a resolution during which no new alert opens."
    )
    baseline_days: int = Field(
        7, ge=0, description="Previous days kept for the same-hour (seasonal) baseline."
    )
    seasonal_min_days: int = Field(
        2, ge=1, description="Days of same-hour history before the seasonal check applies."
    )
    adapt_after_buckets: int = Field(
        120, ge=1, description="After firing this long, bad buckets enter the baseline."
    )

    @classmethod
    def for_watch(
        cls, defaults: DetectorParams, overrides: dict[str, Any] | None
    ) -> DetectorParams:
        """Defaults with a watch's ``detector`` overrides applied (validated)."""
        return cls.model_validate({**defaults.model_dump(), **(overrides or {})})


class DetectionSettings(BaseModel):
    """The detector's defaults (``detector``) and how the live driver paces it."""

    detector: DetectorParams = Field(
        default_factory=DetectorParams,
        description="Spike-detector defaults, one variable each: OPINION_DETECTOR_<NAME>.",
    )
    detector_interval_s: float = Field(
        2.0, gt=0, description="How often each worker evaluates closed buckets (wall time)."
    )
    detector_stall_s: float = Field(
        600.0,
        gt=0,
        description="A partition with posts waiting but no progress this long "
        "(a stuck consumer) stops holding back the watermark; a warning is logged.",
    )
    detector_lateness_s: float = Field(
        30.0, ge=0, description="Event-time lateness allowed before a bucket is evaluated."
    )
