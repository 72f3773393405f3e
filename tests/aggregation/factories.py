"""Scored-post factories and scripted series shared by the aggregation/detection/alerting tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pipeline.schemas import ScoredPost, SentimentLabel

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
NEG_TERMS = ["refund", "outage", "scam", "broken", "delay"]


def make_post(
    post_id: str,
    at: datetime,
    label: SentimentLabel = "neutral",
    *,
    watches: list[str] | None = None,
    source: str = "social",
    lang: str = "en",
    negativity: float | None = None,
    terms: list[str] | None = None,
) -> ScoredPost:
    neg = (
        negativity if negativity is not None else {"negative": 0.9, "neutral": 0.2}.get(label, 0.05)
    )
    return ScoredPost(
        id=post_id,
        source=source,  # type: ignore[arg-type]
        created_at=at,
        lang=lang,
        text=f"post {post_id} about [PERSON]",
        watch_ids=watches or [],
        label=label,
        probabilities={"negative": neg, "neutral": 1 - neg, "positive": 0.0},
        negativity=neg,
        model_version="test",
        explanation=terms or [],
    )


def scripted_feed(
    watch: str,
    minutes: int,
    *,
    per_minute: int = 30,
    incidents: tuple[tuple[int, int], ...] = (),
    incident_share: float = 0.85,
    seed: int = 7,
    start: datetime = T0,
    prefix: str = "",
) -> Iterator[ScoredPost]:
    """Posts of one watch, ``per_minute`` a minute; calm share 20-40% (random each minute),
    ``incident_share`` during ``incidents`` ([first_minute, last_minute) ranges)."""
    rng = random.Random(seed)
    for minute in range(minutes):
        in_incident = any(a <= minute < b for a, b in incidents)
        share = incident_share if in_incident else rng.uniform(0.2, 0.4)
        for k in range(per_minute):
            at = start + timedelta(minutes=minute, seconds=rng.uniform(0, 59.9))
            roll = rng.random()
            label: SentimentLabel = (
                "negative"
                if roll < share
                else ("neutral" if roll < (1 + share) / 2 else "positive")
            )
            terms = [rng.choice(NEG_TERMS)] if label == "negative" else []
            yield make_post(
                f"{prefix}{watch}-{minute}-{k}", at, label, watches=[watch], terms=terms
            )
