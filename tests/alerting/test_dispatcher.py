"""Delivery: a real webhook receiver gets the alert JSON; a dead one is retried, logged and
parked without blocking the caller; parked alerts are re-sent when the channel is back."""

from __future__ import annotations

import json
import logging
import time

import pytest

from pipeline.aggregation import keys
from pipeline.alerting.channels import (
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    channels_from_settings,
)
from pipeline.alerting.dispatcher import Dispatcher
from pipeline.config import Settings
from pipeline.kafka_io import consumer
from pipeline.schemas import Alert
from tests.alerting.servers import Receiver, sample_alert

FAST = {"alert_retry_max": 3, "alert_retry_backoff_s": 0.05, "alert_timeout_s": 2.0}


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **{**FAST, **kw})  # type: ignore[arg-type]


def test_webhook_receiver_gets_the_alert_json(receiver: Receiver) -> None:
    settings = _settings(alert_webhook_url=receiver.url)
    alert = sample_alert()
    with Dispatcher(settings, None, kafka=False) as dispatcher:
        dispatcher.submit(alert)
        assert dispatcher.flush(5)
    assert len(receiver.bodies) == 1
    assert Alert.model_validate(receiver.bodies[0]) == alert
    assert receiver.headers[0]["X-Opinion-Event"] == "opened"


@pytest.mark.integration
def test_unreachable_webhook_is_retried_logged_and_parked_without_blocking(
    receiver: Receiver,
    dead_url: str,
    redis_db,
    stack_settings: Settings,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    settings = stack_settings.model_copy(update=FAST)
    dead = WebhookChannel(dead_url, name="dead-webhook")
    live = WebhookChannel(receiver.url, name="webhook")
    caplog.set_level(logging.WARNING, logger="pipeline.alerting.dispatcher")
    with Dispatcher(settings, redis_db, channels=[dead, live], kafka=False) as dispatcher:
        began = time.perf_counter()
        for k in range(5):
            dispatcher.submit(sample_alert(f"acme-{k}"))
        assert time.perf_counter() - began < 0.05  # the caller never waits on a channel
        assert dispatcher.flush(10)
    assert len(receiver.bodies) == 5  # the working channel was not held up
    failures = [r for r in caplog.records if "failed after 3 attempts" in r.getMessage()]
    assert len(failures) == 5 and all(r.levelno == logging.ERROR for r in failures)
    attempts = [r for r in caplog.records if "(attempt " in r.getMessage()]
    assert len(attempts) == 15
    parked = [json.loads(x) for x in redis_db.lrange(keys.ALERT_RETRY, 0, -1)]
    assert [(p["sink"], p["alert"]["id"], p["attempts"]) for p in parked] == [
        ("dead-webhook", f"acme-{k}", 3) for k in range(5)
    ]


@pytest.mark.integration
def test_parked_deliveries_are_resent_when_the_channel_is_back(
    receiver: Receiver,
    redis_db,
    stack_settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    settings = stack_settings.model_copy(update={**FAST, "alert_retry_interval_s": 0.2})
    receiver.status = 503
    channel = WebhookChannel(receiver.url)
    with Dispatcher(settings, redis_db, channels=[channel], kafka=False) as dispatcher:
        dispatcher.submit(sample_alert())
        assert dispatcher.flush(5)
        assert receiver.hits == 3 and redis_db.llen(keys.ALERT_RETRY) == 1
        receiver.status = 200  # the channel recovers; the sweeper re-sends
        deadline = time.monotonic() + 5
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dispatcher.flush(5)
    assert [b["id"] for b in receiver.bodies] == [sample_alert().id]
    assert redis_db.llen(keys.ALERT_RETRY) == 0


def test_slack_and_email_channels(receiver: Receiver, smtp_server) -> None:  # type: ignore[no-untyped-def]
    port, messages = smtp_server
    settings = _settings(
        alert_slack_webhook_url=receiver.url,
        alert_smtp_host="127.0.0.1",
        alert_smtp_port=port,
        alert_email_to="ops@example.org, lead@example.org",
    )
    channels = channels_from_settings(settings)
    assert [type(c) for c in channels] == [SlackChannel, EmailChannel]
    with Dispatcher(settings, None, channels=channels, kafka=False) as dispatcher:
        dispatcher.submit(sample_alert())
        dispatcher.submit(sample_alert(), "acknowledged")  # not in alert_notify_events
        dispatcher.submit(sample_alert().model_copy(update={"state": "resolved"}), "resolved")
        assert dispatcher.flush(5)
    assert len(receiver.bodies) == 2
    slack = receiver.bodies[0]
    assert "Acme Air" in slack["text"] and "82%" in slack["text"]
    assert slack["blocks"][0]["type"] == "section"
    assert receiver.bodies[1]["text"].startswith("Resolved")
    assert len(messages) == 2
    assert "Subject: [opinion] Negative spike [high] Acme Air" in messages[0]
    assert "To: ops@example.org, lead@example.org" in messages[0]
    assert "refund" in messages[0]


@pytest.mark.integration
def test_alerts_reach_the_kafka_topic(fresh_topics: Settings) -> None:
    settings = fresh_topics.model_copy(update=FAST)
    with Dispatcher(settings, None, channels=[]) as dispatcher:
        dispatcher.submit(sample_alert())
        dispatcher.submit(sample_alert().model_copy(update={"state": "resolved"}))
        assert dispatcher.flush(20)
    reader = consumer(settings, settings.topic("alerts"), group_id=None)
    got: list[tuple] = []
    deadline = time.monotonic() + 15
    try:
        while len(got) < 2 and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=200).values():
                got += [
                    (m.key, dict(m.headers)["event"], Alert.from_bytes(m.value).state)
                    for m in batch
                ]
    finally:
        reader.close()
    assert got == [(b"acme", b"opened", "firing"), (b"acme", b"resolved", "resolved")]
