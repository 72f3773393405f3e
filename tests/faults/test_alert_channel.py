"""Alert channel down: a real worker's spike detector opens (and resolves) an alert while the
webhook answers 503; the dispatcher retries, parks the deliveries in Redis, its sweeper
re-sends them, and both events arrive once the webhook answers 200 again. The webhook URL
carries a secret in its path, which must appear neither in the worker's INFO log nor in the
parked deliveries.

The incident is scripted at the aggregate level (the scored posts of a watch, recorded in
Redis as the worker would), because the tiny test model's labels are random; the worker's
own detection timer, alert store and dispatcher do everything else.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.aggregation import keys
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.redis_io import redis_client
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from pipeline.worker.watermark import WATERMARKS_KEY
from tests.aggregation.factories import scripted_feed
from tests.alerting.servers import Receiver
from tests.faults.helpers import Row, start_worker
from tests.harness import consume_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DOWN_S = 12.0


def wait_for(check, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise TimeoutError(what)


def test_webhook_down_then_back_gets_every_alert_event(
    fresh_topics: Settings, tiny_model: Path, fault_report: list[Row]
) -> None:
    receiver = Receiver()
    receiver.status = 503
    secret = "hook-s3cret-9f41c7"  # webhook URLs are credentials: never logged or stored
    settings = fresh_topics.model_copy(
        update={
            "alert_webhook_url": f"{receiver.url}/{secret}",
            "alert_retry_max": 2,
            "alert_retry_backoff_s": 0.2,
            "alert_retry_interval_s": 2.0,
        }
    )
    client = redis_client(settings)
    client.flushdb()
    WatchStore(client).put(Watch(id="acme", name="Acme Air", query="acme"))
    posts = list(scripted_feed("acme", 100, per_minute=20, incidents=((70, 80),), seed=1))
    AggregateStore(client, settings).record_batch(posts)
    latest = max(p.created_at for p in posts).timestamp()

    def watermark() -> None:  # as if the worker had just read this partition
        client.hset(WATERMARKS_KEY, f"{settings.topic('social')}:0", f"{latest}|{time.time()}")

    watermark()
    worker = start_worker(
        settings, "alerts", loglevel="info", model_dir=tiny_model, detector_interval_s=1.0
    )
    store = AlertStore(client, settings)
    try:
        wait_for(lambda: watermark() or len(store.list()) == 1, 90, "no alert opened")
        alert = store.list()[0]
        wait_for(lambda: client.llen(keys.ALERT_RETRY) > 0, 30, "nothing was parked")
        parked = b"".join(client.lrange(keys.ALERT_RETRY, 0, -1))
        time.sleep(DOWN_S)
        refused = receiver.hits
        receiver.status = 200

        def events() -> list[str]:
            return [h.get("X-Opinion-Event", "") for h in receiver.headers]

        wait_for(lambda: {"opened", "resolved"} <= set(events()), 60, "not delivered")
        time.sleep(2 * settings.alert_retry_interval_s)  # any duplicate would arrive now
        on_kafka = alerts_on_kafka(settings)
        parked_left = client.llen(keys.ALERT_RETRY)
        alive = worker.proc.poll() is None
    finally:
        worker.stop()
        receiver.close()
        client.close()

    delivered = [(b["id"], e) for b, e in zip(receiver.bodies, events(), strict=True)]
    fault_report.append(
        Row(
            f"alert webhook 503 for ~{DOWN_S:.0f} s",
            messages_in=2,
            scored=None,
            dead_lettered=None,
            lost=len({(alert.id, "opened"), (alert.id, "resolved")} - set(delivered)),
            double_counted=len(delivered) - len(set(delivered)),
            note=f"alert events opened+resolved; {refused} refused attempts, then delivered "
            f"from the parked list; {on_kafka} on the alerts topic",
        )
    )
    assert alive, worker.log_tail()
    assert secret.encode() not in parked and b"503" in parked, parked[:500]
    log = worker.log_path.read_text(errors="replace")
    assert "failed (attempt" in log and secret not in log, "webhook URL leaked into the log"
    assert refused >= 2, "the webhook was never retried while down"
    assert sorted(delivered) == [(alert.id, "opened"), (alert.id, "resolved")], delivered
    assert on_kafka >= 2, "the Kafka alerts topic did not get the opened and resolved events"
    assert parked_left == 0, "deliveries still parked after the webhook came back"


def alerts_on_kafka(settings: Settings) -> int:
    """Alert records of the watch on the alerts topic."""
    records = consume_all(settings, "alerts", until=lambda got: len(got) >= 2, timeout_s=15)
    return sum(1 for r in records if r["watch_id"] == "acme")
