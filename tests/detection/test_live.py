"""LiveDetector on the real embedded Valkey, driven on event time like a fast replay."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from pipeline import keys
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.incidents import AlertChange, alerting_detector
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.detection.live import DetectorEvent, LiveDetector, _open_incident
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from tests.aggregation.factories import NEG_TERMS, T0, scripted_feed

pytestmark = pytest.mark.integration
INCIDENT = (70, 80)  # minutes


def _feed() -> list:
    posts = list(scripted_feed("acme", 100, per_minute=20, incidents=(INCIDENT,), seed=1))
    posts += scripted_feed("calm", 100, per_minute=20, seed=2)
    return sorted(posts, key=lambda p: p.created_at)


def _replay(
    store: AggregateStore, live: LiveDetector, posts: list, batch: int = 64
) -> list[AlertChange]:
    """Record batch by batch, evaluating after each one, as the worker does."""
    out: list[AlertChange] = []
    for i in range(0, len(posts), batch):
        chunk = posts[i : i + batch]
        store.record_batch(chunk)
        out += live.evaluate(live.watermark_from(max(p.created_at for p in chunk)))
    return out


@pytest.fixture()
def parts(redis_db, stack_settings: Settings):  # type: ignore[no-untyped-def]
    WatchStore(redis_db).put(Watch(id="acme", name="Acme Air", query="acme"))
    WatchStore(redis_db).put(
        Watch(id="calm", name="Calm", query="calm", detector={"min_volume": 5})
    )
    store = AggregateStore(redis_db, stack_settings)
    return (
        store,
        alerting_detector(stack_settings, store, redis_db),
        AlertStore(redis_db, stack_settings),
    )


def test_one_alert_per_incident_within_two_buckets_then_resolved(parts) -> None:  # type: ignore[no-untyped-def]
    store, live, alerts = parts
    events = _replay(store, live, _feed())
    opened = [c.alert for c in events if c.event == "opened"]
    assert len(opened) == 1, events
    alert = opened[0]
    start = T0 + timedelta(minutes=INCIDENT[0])
    assert alert.watch_id == "acme" and alert.watch_name == "Acme Air"
    assert alert.window_start == start
    assert alert.window_end <= start + timedelta(minutes=2)
    assert alert.negative_share > 0.6 and alert.baseline_share < 0.45
    assert alert.volume >= 20 and 0.5 <= alert.score <= 1
    assert alert.top_terms and set(alert.top_terms) <= set(NEG_TERMS)
    assert 1 <= len(alert.sample_posts) <= 3
    for post in alert.sample_posts:
        assert "[PERSON]" in post["text"]
        assert start.isoformat() <= post["created_at"] < alert.window_end.isoformat()
    assert alert.id in (alert.dashboard_url or "")
    resolved = [c.alert for c in events if c.event == "resolved"]
    assert [a.id for a in resolved] == [alert.id]
    assert resolved[0].resolved_at == start + timedelta(minutes=13)  # 3 calm buckets after
    assert [a.id for a in alerts.list()] == [alert.id]
    assert alerts.get(alert.id).state == "resolved"  # type: ignore[union-attr]


def test_restart_and_concurrent_workers_never_duplicate(parts, redis_db, stack_settings) -> None:  # type: ignore[no-untyped-def]
    store, _, alerts = parts
    posts = _feed()
    store.record_batch(posts)
    watermark = max(p.created_at for p in posts)
    detectors = [alerting_detector(stack_settings, store, redis_db) for _ in range(4)]
    results: list[list] = [[] for _ in detectors]

    def run(k: int) -> None:
        results[k] = [c.alert for c in detectors[k].evaluate(watermark)]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(detectors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    opened = [a for r in results for a in r if a.state == "firing"]
    assert len(alerts.list()) == 1 and len(opened) == 1
    # state survives a restart: a new detector has nothing left to do
    assert alerting_detector(stack_settings, store, redis_db).evaluate(watermark) == []
    # even with the detector state lost, the deterministic alert id prevents a duplicate
    for watch in ("acme", "calm"):
        redis_db.delete(keys.detector_state_key(watch))
    again = alerting_detector(stack_settings, store, redis_db).evaluate(watermark)
    assert [c.alert.state for c in again] in ([], ["resolved"])
    assert len(alerts.list()) == 1


def test_lateness_and_open_buckets_are_not_evaluated(parts) -> None:  # type: ignore[no-untyped-def]
    store, live, alerts = parts
    posts = [
        p for p in _feed() if p.created_at < T0 + timedelta(minutes=INCIDENT[0] + 1, seconds=50)
    ]
    store.record_batch(posts)
    # minute 71 is still open: the incident's second bucket is not judged yet
    assert live.evaluate(live.watermark_from(max(p.created_at for p in posts))) == []
    state = alerts.redis.get(keys.detector_state_key("acme"))
    assert b'"phase": "pending"' in state


def test_a_mention_spike_opens_one_low_severity_alert_naming_its_kinds(
    redis_db, stack_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    WatchStore(redis_db).put(Watch(id="buzz", name="Buzz", query="buzz"))
    store = AggregateStore(redis_db, stack_settings)
    live = alerting_detector(stack_settings, store, redis_db)
    posts = list(scripted_feed("buzz", 100, per_minute=20, seed=4))
    posts += scripted_feed(  # 4x the posts for ten minutes, the usual sentiment mix
        "buzz", 10, per_minute=60, seed=5, start=T0 + timedelta(minutes=70), prefix="x"
    )
    events = _replay(store, live, sorted(posts, key=lambda p: p.created_at))
    opened = [c.alert for c in events if c.event == "opened"]
    assert len(opened) == 1, events
    alert = opened[0]
    assert "volume" in alert.kinds and "negative_share" not in alert.kinds
    assert alert.severity == "low", alert  # a mention spike with a usual share pages nobody
    reasons = {r.kind: r for r in alert.reasons}
    assert set(reasons) == set(alert.kinds)
    assert reasons["volume"].ratio > 3 and reasons["volume"].expected > 0
    assert reasons["volume"].observed == alert.volume
    assert alert.window_start == T0 + timedelta(minutes=70)


def test_detection_emits_events_to_any_sink_and_reads_state_of_older_versions(
    redis_db, stack_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    WatchStore(redis_db).put(Watch(id="acme", name="Acme Air", query="acme"))
    store = AggregateStore(redis_db, stack_settings)
    events: list[DetectorEvent] = []
    live = LiveDetector(stack_settings, store, redis_db, events.append)
    posts = sorted(
        scripted_feed("acme", 100, per_minute=20, incidents=(INCIDENT,), seed=1),
        key=lambda p: p.created_at,
    )
    assert _replay(store, live, posts) == []  # list.append answers None: nothing collected
    assert [(e.kind, e.watch_id) for e in events] == [("fired", "acme"), ("resolved", "acme")]
    start = T0 + timedelta(minutes=INCIDENT[0])
    assert {e.incident_start for e in events} == {start}
    assert events[0].watch["name"] == "Acme Air"
    legacy = {"next": 0, "alert_id": f"acme-{start:%Y%m%dT%H%M%SZ}", "detector": {}}
    assert _open_incident(legacy) == int(start.timestamp())
    assert _open_incident({"next": 0, "alert_id": None, "detector": {}}) is None
