"""What ``make demo`` leaves in Redis, without the workers: the demo feed's posts, counted.

The demo feed (``demo-v1``, shifted to end now) is generated; every valid post becomes a
``ScoredPost`` labelled with its ground-truth sentiment (no model runs: the dashboard only
reads aggregates) and is counted by the real ``AggregateStore``. The demo watches are seeded
and each scripted incident becomes an alert, as the live detector would raise it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from devkit.feed.generate import FeedMessage, generate, shift_to_end_now
from devkit.feed.scenario import DEFAULT_WATCHES_FILE, Scenario, load_scenario
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.redis_io import redis_client
from pipeline.schemas import Alert, Post, ScoredPost
from pipeline.watches.store import WatchStore, load_watch_file

BATCH = 500
PROBABILITIES = {
    "negative": {"negative": 0.86, "neutral": 0.09, "positive": 0.05},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.04, "neutral": 0.1, "positive": 0.86},
}


@dataclass(frozen=True)
class Seeded:
    """What ``seed_demo`` wrote."""

    posts: int
    counted: int
    alerts: int


def scored(message: FeedMessage) -> ScoredPost:
    """The post of a valid feed message, scored as its ground truth says."""
    post = Post.model_validate_json(message.value)
    label = message.expected.sentiment or "neutral"
    probabilities = PROBABILITIES[label]
    return ScoredPost(
        id=post.id,
        source=post.source,
        source_name=post.source_name,
        created_at=post.created_at,
        lang=message.expected.lang or post.lang or "en",
        text=post.text,
        title=post.title,
        url=post.url,
        watch_ids=list(message.expected.watch_ids),
        label=label,
        probabilities=probabilities,
        negativity=probabilities["negative"],
        model_version="bench-ground-truth",
        explanation=[],
    )


def batches(posts: Iterable[ScoredPost], size: int = BATCH) -> Iterator[list[ScoredPost]]:
    batch: list[ScoredPost] = []
    for post in posts:
        batch.append(post)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def incident_alerts(scenario: Scenario, shift: timedelta) -> list[Alert]:
    """One firing alert per scripted incident (its first half hour as the window)."""
    alerts = []
    for incident in scenario.incidents:
        start = scenario.start + shift + timedelta(seconds=incident.start)
        alerts.append(
            Alert(
                id=f"{incident.watch}-{int(start.timestamp())}",
                watch_id=incident.watch,
                watch_name=incident.watch,
                severity="high",
                score=0.9,
                window_start=start,
                window_end=start + timedelta(minutes=30),
                negative_share=incident.negative_share,
                baseline_share=0.28,
                volume=100,
            )
        )
    return alerts


def seed_demo(settings: Settings, scenario_name: str = "demo-v1") -> Seeded:
    """Fill Redis as ``make demo`` would after its replay (workers idle)."""
    client = redis_client(settings)
    try:
        WatchStore(client).seed(load_watch_file(DEFAULT_WATCHES_FILE))
        scenario = load_scenario(scenario_name)
        shift = shift_to_end_now(scenario)
        valid = (m for m in generate(scenario, shift=shift) if m.expected.kind == "valid")
        store = AggregateStore(client, settings)
        posts = counted = 0
        for batch in batches(scored(m) for m in valid):
            posts += len(batch)
            counted += store.record_batch(batch)
        alerts = AlertStore(client, settings)
        opened = sum(bool(alerts.open(a)) for a in incident_alerts(scenario, shift))
        return Seeded(posts, counted, opened)
    finally:
        client.close()
