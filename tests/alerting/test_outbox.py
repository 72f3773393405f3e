"""The alert outbox on the real embedded Valkey, with real HTTP/SMTP receivers and Kafka:
deliveries are queued atomically with the alert, claimed under a lease, retried with
jittered backoff, parked on permanent failures, and sent once a channel accepts them."""

from __future__ import annotations

import random
import threading
import time

import pytest
import redis
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from pipeline import keys
from pipeline.alerting.channels import (
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    channels_from_settings,
)
from pipeline.alerting.deliveries import Delivery, DeliveryStore
from pipeline.alerting.outbox import Outbox, backoff_s, safe_error
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.kafka_io import consumer
from pipeline.redis_io import redis_client
from pipeline.schemas import Alert
from pipeline.worker.metrics import WorkerMetrics
from tests.alerting.servers import Receiver, sample_alert

FAST = {"alert_retry_backoff_s": 0.2, "alert_retry_backoff_max_s": 0.8, "alert_timeout_s": 2.0}


def _with(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={**FAST, **changes})


def _wait_due(d: Delivery) -> None:
    time.sleep(max(0.0, (d.due_at or 0) - time.time()) + 0.01)


# --- without Redis ----------------------------------------------------------------------------
def test_min_severities_are_case_insensitive_and_checked() -> None:
    settings = Settings(_env_file=None, alert_min_severity_slack=" HIGH ")
    assert settings.alert_min_severity_slack == "high"
    assert settings.alert_min_severity_webhook == settings.alert_min_severity_email == "medium"
    with pytest.raises(ValidationError):
        Settings(_env_file=None, alert_min_severity_email="urgent")


def test_every_alert_key_shares_one_hash_tag() -> None:
    assert Settings(_env_file=None).alert_stream_key == keys.ALERT_STREAM
    for key in (keys.alert_key("a-1"), keys.ALERT_INDEX, keys.ALERT_STREAM,
                keys.OUTBOX_DELIVERIES, keys.OUTBOX_PAYLOADS, keys.OUTBOX_PARKED,
                keys.outbox_due_key("webhook")):  # fmt: skip
        assert key.startswith("opinion:{alerts}:"), key


def test_backoff_doubles_up_to_the_cap_with_equal_jitter() -> None:
    rng = random.Random(7)
    for failures, step in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (40, 4.0)):
        delays = [backoff_s(failures, 0.5, 4.0, rng) for _ in range(300)]
        assert step / 2 <= min(delays) and max(delays) <= step, (failures, step)
        assert max(delays) - min(delays) > step / 4, "no jitter"


def test_stored_errors_keep_only_the_endpoint_of_a_url() -> None:
    error = safe_error(RuntimeError("boom at https://hooks.example.org/T0/B0/s3cret-token x"))
    assert error == "RuntimeError: boom at https://hooks.example.org/... x"


# --- on Redis ---------------------------------------------------------------------------------
integration = pytest.mark.integration


@pytest.fixture()
def channels_settings(stack_settings: Settings) -> Settings:
    """Webhook, Slack and e-mail configured (nothing listens: only the outbox is looked at)."""
    return _with(
        stack_settings,
        alert_webhook_url="http://127.0.0.1:9/hook",
        alert_slack_webhook_url="http://127.0.0.1:9/slack",
        alert_smtp_host="127.0.0.1",
        alert_email_to="ops@example.org",
        alert_min_severity_webhook="low",
        alert_min_severity_slack="high",
        alert_min_severity_email="critical",
    )


def _queued(store: AlertStore) -> set[tuple[str, str]]:
    return {(d.event, d.channel) for d in store.deliveries.pending()}


@integration
def test_changes_queue_one_delivery_per_channel_that_wants_them(
    redis_db: redis.Redis, channels_settings: Settings
) -> None:
    store = AlertStore(redis_db, channels_settings)
    alert = sample_alert()  # severity high: not enough for e-mail (critical)
    assert store.open(alert)
    pending = store.deliveries.pending()
    assert {(d.event, d.channel) for d in pending} == {
        ("opened", "kafka"), ("opened", "webhook"), ("opened", "slack")
    }  # fmt: skip
    for d in pending:
        assert (d.key, d.state, d.attempts) == (f"{alert.id}:opened", "pending", 0)
        assert store.deliveries.payload(d) == alert
    assert not store.open(alert.model_copy(update={"volume": 1}))  # nothing queued twice
    assert len(store.deliveries.pending()) == 3

    store.ack(alert.id, "ann")  # not in alert_notify_events: Kafka only
    store.resolve(alert.id, by="ann")
    assert _queued(store) - {(d.event, d.channel) for d in pending} == {
        ("acknowledged", "kafka"), ("resolved", "kafka"), ("resolved", "webhook"),
        ("resolved", "slack"),
    }  # fmt: skip
    resolved = store.deliveries.get(f"{alert.id}:resolved:webhook")
    assert resolved is not None
    assert store.deliveries.payload(resolved).state == "resolved"  # type: ignore[union-attr]

    low = sample_alert("low-1").model_copy(update={"severity": "low"})
    store.open(low)
    assert {d.channel for d in store.deliveries.for_alert(low.id)} == {"kafka", "webhook"}


@integration
def test_an_escalation_reaches_each_channel_once_its_minimum_severity_is_met(
    redis_db: redis.Redis, channels_settings: Settings
) -> None:
    store = AlertStore(redis_db, channels_settings)
    low = sample_alert("buzz-1").model_copy(update={"severity": "low", "kinds": ["volume"]})
    assert store.open(low)
    assert _queued(store) == {("opened", "kafka"), ("opened", "webhook")}
    assert store.escalate(low.id, {"severity": "low", "kinds": ["volume"]}) is None
    high = store.escalate(low.id, {"severity": "high", "kinds": ["negative_share", "volume"]})
    assert high is not None and high.severity == "high" and high.state == "firing"
    assert store.get(low.id) == high
    escalated = {(d.channel, d.key) for d in store.deliveries.for_alert(low.id)
                 if d.event == "escalated"}  # fmt: skip
    key = f"{low.id}:escalated-high-negative_share+volume"
    assert escalated == {("kafka", key), ("webhook", key), ("slack", key)}  # not e-mail
    critical = store.escalate(low.id, {"severity": "critical"})
    assert critical is not None
    channels = [d.channel for d in store.deliveries.for_alert(low.id) if d.event == "escalated"]
    assert channels.count("email") == 1 and channels.count("slack") == 2
    store.resolve(low.id, by="detector")
    assert (
        store.escalate(low.id, {"severity": "critical", "kinds": ["volume", "negative_volume"]})
        is None
    )
    events = [f["event"] for _, f in store.stream()]
    assert events == ["opened", "escalated", "escalated", "resolved"]


def _crashing_client(settings: Settings, commands: int) -> redis.Redis:
    """A client whose process 'dies' after sending ``commands`` commands (every later send
    fails; the server sees exactly what was sent before)."""
    left = [commands]

    class Connection(redis.connection.Connection):
        def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
            if left[0] <= 0:
                raise redis.ConnectionError("crashed")
            left[0] -= 1
            super().send_packed_command(command, check_health)

    return redis.Redis.from_url(
        settings.resolved_redis_url(),
        connection_class=Connection,
        retry=Retry(NoBackoff(), 0),
    )


@integration
def test_open_writes_alert_stream_and_deliveries_all_or_nothing(
    redis_db: redis.Redis, channels_settings: Settings
) -> None:
    """A crash after each command of ``open``: the alert, its stream record, its index
    entry and its deliveries exist together or not at all, and a retry completes it."""
    alert = sample_alert()
    outcomes = set()
    for commands in range(12):
        redis_db.flushdb()
        client = _crashing_client(channels_settings, commands)
        try:
            AlertStore(client, channels_settings).open(alert)
        except redis.ConnectionError:
            pass
        finally:
            client.close()
        store = AlertStore(redis_db, channels_settings)
        written = (
            redis_db.exists(keys.alert_key(alert.id)),
            redis_db.xlen(channels_settings.alert_stream_key),
            redis_db.zcard(keys.ALERT_INDEX),
            len(store.deliveries.for_alert(alert.id)),
        )
        assert written in ((0, 0, 0, 0), (1, 1, 1, 3)), (commands, written)
        outcomes.add(written[0])
        store.open(alert)  # the next worker's attempt
        assert len(store.deliveries.for_alert(alert.id)) == 3
        assert redis_db.xlen(channels_settings.alert_stream_key) == 1
    assert outcomes == {0, 1}, "the crash never hit before (or after) the write"


@integration
def test_a_claim_holds_a_delivery_for_its_lease_only(
    redis_db: redis.Redis, stack_settings: Settings
) -> None:
    AlertStore(redis_db, stack_settings).open(sample_alert())  # Kafka only
    mine = DeliveryStore(redis_db, stack_settings)
    clients = [redis_client(stack_settings) for _ in range(6)]
    try:
        others = [DeliveryStore(c, stack_settings) for c in clients]
        start = threading.Barrier(len(others))
        got: list[list[Delivery]] = []

        def claim(store: DeliveryStore) -> None:
            start.wait()
            got.append(store.claim("kafka", lease_s=0.5))

        threads = [threading.Thread(target=claim, args=(s,)) for s in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [g[0] for g in got if g]
        assert len(winners) == 1 and winners[0].attempts == 1, got
        assert mine.claim("kafka", 30) == []  # leased
        time.sleep(0.6)
        again = mine.claim("kafka", 30)  # the lease ended: due again
        assert [d.id for d in again] == [winners[0].id] and again[0].attempts == 2
        assert not mine.retry(winners[0], "late", 0)  # the old holder lost its say
        assert not mine.park(winners[0], "late")
        assert mine.retry(again[0], "ChannelError: down", 0)
        assert mine.get(again[0].id).failures == 1  # type: ignore[union-attr]
    finally:
        for c in clients:
            c.close()


def _webhook_outbox(
    settings: Settings, client: redis.Redis, url: str, metrics: WorkerMetrics | None = None
) -> Outbox:
    return Outbox(settings, client, channels=[WebhookChannel(url, 2.0)], metrics=metrics)


@integration
def test_transient_failures_back_off_with_jitter_until_the_channel_accepts(
    redis_db: redis.Redis, stack_settings: Settings, receiver: Receiver
) -> None:
    url = receiver.url
    settings = _with(stack_settings, alert_webhook_url=url, alert_min_severity_webhook="low")
    store = AlertStore(redis_db, settings)
    alert = sample_alert()
    store.open(alert)
    metrics = WorkerMetrics()
    outbox = _webhook_outbox(settings, redis_db, receiver.url, metrics)
    did = f"{alert.id}:opened:webhook"
    receiver.status = 503
    for failures in range(1, 5):
        before = time.time()
        assert outbox.send_due() == 0
        after = time.time()
        d = store.deliveries.get(did)
        assert d is not None
        assert (d.state, d.attempts, d.failures) == ("pending", failures, failures)
        assert d.last_error and "HTTP 503" in d.last_error
        step = min(0.8, 0.2 * 2 ** (failures - 1))  # the delay was chosen between the two
        assert (d.due_at or 0) - before >= step / 2 - 0.001, failures
        assert (d.due_at or 0) - after <= step + 0.001, failures
        assert outbox.send_due() == 0 and receiver.hits == failures  # not due yet
        _wait_due(d)
    receiver.status = 200
    assert outbox.send_due() == 1
    sent = store.deliveries.get(did)
    assert sent is not None and (sent.state, sent.attempts) == ("sent", 5) and sent.sent_at
    assert redis_db.zscore(keys.outbox_due_key("webhook"), did) is None
    assert redis_db.hget(keys.OUTBOX_PAYLOADS, did) is None
    assert receiver.accepted_keys() == [f"{alert.id}:opened"]
    assert Alert.model_validate(receiver.bodies[0]).id == alert.id
    value = metrics.registry.get_sample_value
    assert value("opinion_alert_deliveries_failed_total", {"channel": "webhook"}) == 4
    assert value("opinion_alert_deliveries_sent_total", {"channel": "webhook"}) == 1


@integration
def test_a_400_parks_the_delivery_with_its_reason_until_requeued(
    redis_db: redis.Redis, stack_settings: Settings, receiver: Receiver
) -> None:
    url = f"{receiver.url}/T0SECRET/hook-token-77"
    settings = _with(stack_settings, alert_webhook_url=url, alert_min_severity_webhook="low")
    store = AlertStore(redis_db, settings)
    alert = sample_alert()
    store.open(alert)
    metrics = WorkerMetrics()
    outbox = _webhook_outbox(settings, redis_db, url, metrics)
    receiver.status = 400
    assert outbox.send_due() == 0
    [parked] = store.deliveries.parked()
    assert (parked.channel, parked.event, parked.state, parked.attempts) == (
        "webhook", "opened", "parked", 1
    )  # fmt: skip
    assert parked.last_error and "HTTP 400" in parked.last_error and parked.parked_at
    assert "T0SECRET" not in parked.last_error and "hook-token" not in parked.last_error
    assert [d.channel for d in store.deliveries.pending()] == ["kafka"]
    time.sleep(0.3)
    assert outbox.send_due() == 0 and receiver.hits == 1  # never retried by itself
    parked_total = ("opinion_alert_deliveries_parked_total", {"channel": "webhook"})
    assert metrics.registry.get_sample_value(*parked_total) == 1

    receiver.status = 200
    assert store.deliveries.requeue(parked.id) and not store.deliveries.requeue(parked.id)
    assert outbox.send_due() == 1
    assert store.deliveries.get(parked.id).state == "sent"  # type: ignore[union-attr]
    assert store.deliveries.parked() == [] and receiver.accepted_keys() == [f"{alert.id}:opened"]


@integration
def test_a_slow_channel_delays_no_other_and_drain_leaves_the_rest_pending(
    redis_db: redis.Redis, stack_settings: Settings
) -> None:
    slow, fast = Receiver(delay_s=1.0), Receiver()
    settings = _with(
        stack_settings,
        alert_webhook_url=slow.url,
        alert_slack_webhook_url=fast.url,
        alert_min_severity_webhook="low",
        alert_min_severity_slack="low",
        alert_outbox_interval_s=0.1,
    )
    store = AlertStore(redis_db, settings)
    metrics = WorkerMetrics()
    outbox = Outbox(settings, redis_db, channels=channels_from_settings(settings), metrics=metrics)
    try:
        outbox.start()
        for k in range(3):
            store.open(sample_alert(f"acme-{k}"))
        outbox.wake()
        deadline = time.monotonic() + 0.8
        while len(fast.bodies) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(fast.bodies) == 3 and len(slow.bodies) == 0  # Slack did not wait
        began = time.monotonic()
        outbox.drain(0.5)
        assert time.monotonic() - began < 0.8  # drain keeps to its timeout
        left = store.deliveries.pending("webhook")
        assert 2 <= len(left) <= 3, left  # the rest stays for another worker
        outbox.refresh_gauges()
        value = metrics.registry.get_sample_value
        assert value("opinion_alert_deliveries_pending", {"channel": "webhook"}) == len(left)
        assert value("opinion_alert_deliveries_pending", {"channel": "slack"}) == 0
        age = value("opinion_alert_delivery_oldest_pending_seconds", {"channel": "webhook"})
        assert age is not None and 0.5 < age < 10
    finally:
        slow.close()
        fast.close()


@integration
def test_slack_and_email_get_the_notified_events(
    redis_db: redis.Redis, stack_settings: Settings, receiver: Receiver, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    port, messages = smtp_server
    settings = _with(
        stack_settings,
        alert_slack_webhook_url=receiver.url,
        alert_smtp_host="127.0.0.1",
        alert_smtp_port=port,
        alert_email_to="ops@example.org, lead@example.org",
    )
    channels = channels_from_settings(settings)
    assert [type(c) for c in channels] == [SlackChannel, EmailChannel]
    store = AlertStore(redis_db, settings)
    alert = sample_alert()
    store.open(alert)
    store.ack(alert.id, "ann")  # not in alert_notify_events
    store.resolve(alert.id, by="ann")
    outbox = Outbox(settings, redis_db, channels=channels)
    assert outbox.send_due() == 4
    assert [b["text"].split(" ")[0] for b in receiver.bodies] == ["Negative", "Resolved"]
    assert "Acme Air" in receiver.bodies[0]["text"] and "82%" in receiver.bodies[0]["text"]
    assert len(messages) == 2
    assert "Acme Air" in messages[0] and "refund" in messages[0]
    assert "To: ops@example.org, lead@example.org" in messages[0]


@integration
def test_kafka_gets_every_event_in_order(fresh_topics: Settings, redis_db: redis.Redis) -> None:
    settings = _with(fresh_topics)
    store = AlertStore(redis_db, settings)
    alert = sample_alert()
    store.open(alert)
    store.ack(alert.id, "ann")
    store.resolve(alert.id)
    outbox = Outbox(settings, redis_db)
    assert list(outbox.channels) == ["kafka"]
    try:
        assert outbox.send_due() == 3
    finally:
        outbox.close()
    reader = consumer(settings, settings.topic("alerts"), group_id=None)
    got: list[tuple] = []
    deadline = time.monotonic() + 15
    try:
        while len(got) < 3 and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=200).values():
                got += [(m.key, dict(m.headers)["event"], Alert.from_bytes(m.value).state)
                        for m in batch]  # fmt: skip
    finally:
        reader.close()
    assert got == [
        (b"acme", b"opened", "firing"),
        (b"acme", b"acknowledged", "acknowledged"),
        (b"acme", b"resolved", "resolved"),
    ]
