"""Settings of the rolling aggregates in Redis: buckets, rollups, retention."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AggregationSettings(BaseModel):
    """Bucket width, rollups, retention and the bounded per-watch lists."""

    bucket_s: int = Field(60, ge=1, description="Aggregation bucket width in seconds.")
    retention_s: int = Field(7 * 86400, ge=60, description="How long buckets are kept.")
    rollup_s: tuple[int, ...] = Field(
        (300, 3600, 86400),
        description="Rollup bucket widths (s, JSON list), each a multiple of bucket_s.",
    )
    recent_posts_per_watch: int = Field(
        500, ge=1, description="Recent scored posts kept per watch for drill-down."
    )
    max_terms_per_bucket: int = Field(
        1000, ge=10, description="Distinct top-term candidates kept per watch and bucket."
    )
