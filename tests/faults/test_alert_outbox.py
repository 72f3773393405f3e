"""Alert deliveries survive worker crashes, Redis restarts and a dead webhook (the outbox).

A real worker's detector opens (and resolves) an alert while the webhook answers 503 for its
first 30 s; the worker is killed with SIGKILL while the deliveries fail, and a new worker
(after a Redis kill -9 and restart on its AOF, or alongside another worker) sends what the
dead one left. The receiver records each request's ``Idempotency-Key``: each event arrives
at most twice, and exactly once after dropping duplicates by key. A webhook answering 400
parks its deliveries instead (attempts stop), and the dashboard lists them as parked.

The incident is scripted at the aggregate level (the scored posts of a watch, recorded in
Redis as the worker would), because the tiny test model's labels are random; the worker's
own detection timer, alert store and outbox do everything else. The webhook URL carries a
secret in its path, which must appear neither in the workers' logs nor in stored errors.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from devkit.stack.embedded import restart_process
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.deliveries import DeliveryStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.redis_io import redis_client
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from pipeline.worker.watermark import WATERMARKS_KEY
from tests.aggregation.factories import scripted_feed
from tests.alerting.servers import Receiver
from tests.faults.helpers import Row, start_worker
from tests.harness import WorkerProcess, consume_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FAIL_S = 30.0
SECRET = "hook-s3cret-9f41c7"  # webhook URLs are credentials: never logged or stored
FAST = {
    "alert_retry_backoff_s": 0.5,
    "alert_retry_backoff_max_s": 2.0,
    "alert_lease_s": 5.0,
    "alert_timeout_s": 2.0,
    "alert_min_severity_webhook": "low",
    "detector_interval_s": 1.0,
}


def wait_for(check: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise TimeoutError(what)


class Incident:
    """A watch whose scripted aggregates hold one negative incident, and the watermark that
    lets the workers' detectors judge it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis_client(settings)
        self.client.flushdb()
        WatchStore(self.client).put(Watch(id="acme", name="Acme Air", query="acme"))
        posts = list(scripted_feed("acme", 100, per_minute=20, incidents=((70, 80),), seed=1))
        AggregateStore(self.client, settings).record_batch(posts)
        self.latest = max(p.created_at for p in posts).timestamp()
        self.alerts = AlertStore(self.client, settings)
        self.tick()

    def tick(self) -> bool:
        """As if a worker had just read this partition (keeps the watermark current)."""
        partition = f"{self.settings.topic('social')}:0"
        with contextlib.suppress(redis.ConnectionError):  # Redis restarting
            self.client.hset(WATERMARKS_KEY, partition, f"{self.latest}|{time.time()}")
        return False

    def opened(self) -> str:
        """The id of the alert, once the detector opened it."""
        wait_for(lambda: self.tick() or self.alerts.list(), 90, "no alert opened")
        return self.alerts.list()[0].id


@pytest.fixture()
def incident(fresh_topics: Settings) -> Iterator[tuple[Settings, Receiver, Incident]]:
    receiver = Receiver(fail_for_s=FAIL_S)
    settings = fresh_topics.model_copy(
        update={**FAST, "alert_webhook_url": f"{receiver.url}/{SECRET}"}
    )
    scripted = Incident(settings)
    yield settings, receiver, scripted
    receiver.close()
    scripted.client.close()


def _start(settings: Settings, model: Path, *names: str) -> list[WorkerProcess]:
    """Workers ready to consume (INFO logs: they must not show the webhook's secret)."""
    return [start_worker(settings, n, loglevel="info", model_dir=model) for n in names]


def _kill_while_failing(
    receiver: Receiver, scripted: Incident, workers: list[WorkerProcess]
) -> None:
    """Once the alert opened and the webhook refused it twice, SIGKILL the first worker."""
    scripted.opened()
    wait_for(lambda: scripted.tick() or receiver.hits >= 2, 30, "the webhook was never tried")
    workers[0].kill()
    assert all(r.status == 503 for r in receiver.requests), "delivered before the kill"


def _deliver_and_check(
    settings: Settings,
    receiver: Receiver,
    scripted: Incident,
    workers: list[WorkerProcess],
    scenario: str,
    fault_report: list[Row],
) -> None:
    """Wait for both events; at most twice each, once after dropping duplicates by key."""
    alert_id = scripted.alerts.list()[0].id
    wanted = {f"{alert_id}:opened", f"{alert_id}:resolved"}
    try:
        wait_for(lambda: scripted.tick() or wanted <= set(receiver.accepted_keys()),
                 FAIL_S + 60, "not delivered")  # fmt: skip
        time.sleep(3)  # a duplicate would arrive now
        stored = DeliveryStore(scripted.client, settings).for_alert(alert_id)
        on_kafka = alerts_on_kafka(settings)
        alive = [w.proc.poll() is None for w in workers[1:]]
    finally:
        for worker in workers:
            worker.stop()
    accepted = Counter(receiver.accepted_keys())
    refused = sum(r.status == 503 for r in receiver.requests)
    fault_report.append(
        Row(
            scenario,
            messages_in=2,
            scored=None,
            dead_lettered=None,
            lost=len(wanted - set(accepted)),
            double_counted=sum(accepted.values()) - len(accepted),
            note=f"alert events opened+resolved; {refused} refused attempts, then delivered "
            f"once each by key; {on_kafka} on the alerts topic",
        )
    )
    assert all(alive), [w.log_tail() for w in workers[1:]]
    assert set(accepted) == wanted and max(accepted.values()) <= 2, accepted
    assert refused >= 2, "the webhook was never retried while down"
    assert {(d.channel, d.state) for d in stored} == {("kafka", "sent"), ("webhook", "sent")}
    assert on_kafka >= 2, "the Kafka alerts topic did not get the opened and resolved events"
    for d in stored:
        assert SECRET not in (d.last_error or "")
    for worker in workers:
        log = worker.log_path.read_text(errors="replace")
        assert SECRET not in log, "webhook URL leaked into the log"
    for worker in workers[1:]:  # stopped with SIGTERM: the shutdown hook drained the outbox
        assert "alert outbox drained" in worker.log_path.read_text(errors="replace")


@pytest.mark.parametrize("redis_restart", [False, True], ids=["worker", "worker+redis"])
def test_kill9_while_the_webhook_fails_then_a_new_worker_delivers_once(
    incident: tuple[Settings, Receiver, Incident],
    tiny_model: Path,
    fault_report: list[Row],
    redis_restart: bool,
) -> None:
    settings, receiver, scripted = incident
    workers = _start(settings, tiny_model, "w1")
    try:
        _kill_while_failing(receiver, scripted, workers)
        log = workers[0].log_path.read_text(errors="replace")
        assert "failed (attempt" in log and SECRET not in log
        if redis_restart:
            restart_process(settings, "redis")  # kill -9, then up again on its AOF
        workers += _start(settings, tiny_model, "w2")
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    scenario = "webhook 503 30 s, worker kill -9" + (", Redis kill -9 + restart" * redis_restart)
    _deliver_and_check(settings, receiver, scripted, workers, scenario, fault_report)


def test_two_workers_send_the_outbox_at_once(
    incident: tuple[Settings, Receiver, Incident], tiny_model: Path, fault_report: list[Row]
) -> None:
    settings, receiver, scripted = incident
    workers = _start(settings, tiny_model, "w1", "w2")
    try:
        _kill_while_failing(receiver, scripted, workers)
        workers += _start(settings, tiny_model, "w3")  # w2 and w3 send together
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    scenario = "webhook 503 30 s, 1 of 2 workers kill -9, a third starts"
    _deliver_and_check(settings, receiver, scripted, workers, scenario, fault_report)


def test_a_webhook_answering_400_parks_the_deliveries(
    fresh_topics: Settings, tiny_model: Path
) -> None:
    from dashboard import data

    receiver = Receiver()
    receiver.status = 400
    settings = fresh_topics.model_copy(update={**FAST, "alert_webhook_url": receiver.url})
    scripted = Incident(settings)
    deliveries = DeliveryStore(scripted.client, settings)
    [worker] = _start(settings, tiny_model, "w")
    try:
        alert_id = scripted.opened()
        wait_for(lambda: scripted.tick() or len(deliveries.parked()) == 2, 30, "not parked")
        hits = receiver.hits
        time.sleep(3 * settings.alert_retry_backoff_max_s)  # any retry would happen now
        parked = deliveries.parked()
        shown = data.alert_deliveries(settings, alert_id)
    finally:
        worker.stop()
        receiver.close()
        scripted.client.close()
    assert receiver.hits == hits == 2, "a 400 was retried"
    assert [(d.event, d.attempts) for d in parked] == [("opened", 1), ("resolved", 1)]
    assert all("HTTP 400" in (d.last_error or "") for d in parked)
    states = {(d["channel"], d["event"]): d["state"] for d in shown}
    assert states[("webhook", "opened")] == states[("webhook", "resolved")] == "parked"
    assert states[("kafka", "opened")] == "sent"


def alerts_on_kafka(settings: Settings) -> int:
    """Alert records of the watch on the alerts topic."""
    records = consume_all(settings, "alerts", until=lambda got: len(got) >= 2, timeout_s=15)
    return sum(1 for r in records if r["watch_id"] == "acme")
