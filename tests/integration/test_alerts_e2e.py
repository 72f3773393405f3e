"""End to end through the real broker, a real worker and Redis: a scripted feed with two
negative incidents and a calm watch. Each incident alerts within 2 buckets of its start,
once; the calm watch never alerts; the webhook receives the alerts; replaying the same
events again leaves every aggregate unchanged."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from devkit.feed import generate, load_scenario, replay
from devkit.feed.scenario import load_watches
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.redis_io import redis_client
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from tests.alerting.servers import Receiver
from tests.harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_processed(worker: WorkerProcess, total: int, timeout_s: float = 600) -> dict:
    """Until every message was consumed and committed (scored, duplicate or dead letter)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = worker.metrics()
        done = m["opinion_scored_total"] + m["opinion_duplicates_total"]
        if done + m["opinion_dead_lettered_total"] >= total:
            return m
        time.sleep(1)
    raise TimeoutError(f"processed {done} of {total}:\n{worker.log_tail()}")


def snapshot(store: AggregateStore, watch_ids: list[str], scenario) -> dict:  # type: ignore[no-untyped-def]
    since, until = scenario.start - timedelta(hours=1), scenario.end + timedelta(hours=1)
    return {
        w: (store.totals(w, since, until), [b.as_dict() for b in store.series(w, since, until)])
        for w in [None, *watch_ids]
    }


def test_incidents_alert_once_calm_watch_never_and_replay_is_idempotent(
    fresh_topics: Settings,
) -> None:
    scenario = load_scenario("test-alerts-v1")
    messages = list(generate(scenario))
    receiver = Receiver()
    settings = fresh_topics.model_copy(update={"alert_webhook_url": receiver.url})
    client = redis_client(settings)
    client.flushdb()
    WatchStore(client).seed([Watch.model_validate(w) for w in load_watches(scenario)])
    worker = WorkerProcess(settings)
    try:
        worker.wait_ready()
        sent = replay(iter(messages), settings, speed=None, progress=False)
        assert sent.failed == 0
        wait_processed(worker, len(messages))
        time.sleep(3 * settings.detector_interval_s)  # the last evaluation after the feed
        alerts = AlertStore(client, settings).list(limit=100)
        store = AggregateStore(client, settings)
        before = snapshot(store, ["acme-air", "zentro", "northbank"], scenario)

        # Same events again: re-delivered ids are skipped, aggregates must not move.
        replay(iter(messages), settings, speed=None, progress=False)
        wait_processed(worker, 2 * len(messages))
        after = snapshot(store, ["acme-air", "zentro", "northbank"], scenario)
    finally:
        worker.stop()
        receiver.close()
        client.close()

    by_watch = {a.watch_id: a for a in alerts}
    assert sorted(a.watch_id for a in alerts) == ["acme-air", "northbank"], [
        (a.watch_id, a.window_start, a.negative_share) for a in alerts
    ]
    for incident in scenario.incidents:
        start = scenario.start + timedelta(seconds=incident.start)
        alert = by_watch[incident.watch]
        assert start - timedelta(minutes=1) <= alert.window_start <= start + timedelta(minutes=1)
        assert alert.window_end <= start + timedelta(seconds=2 * settings.bucket_s), (
            f"{incident.name} started {start:%H:%M}, alert fired at {alert.window_end:%H:%M}"
        )
        assert alert.negative_share > alert.baseline_share + 0.2
        assert alert.top_terms and alert.sample_posts
    assert {b["watch_id"] for b in receiver.bodies} >= {"acme-air", "northbank"}
    assert before == after, "replaying the same events changed the aggregates"
    volume = before[None][0]["volume"]
    assert volume == sum(1 for m in messages if m.expected.kind == "valid")
