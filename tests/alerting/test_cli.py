"""``opinion stats`` and ``opinion alerts``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import typer
from typer.testing import CliRunner

from pipeline.aggregation import cli as aggregation_cli
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting import cli as alerting_cli
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from tests.aggregation.factories import T0, make_post
from tests.alerting.servers import sample_alert

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    aggregation_cli.register(app)
    alerting_cli.register(app)
    return app


@pytest.mark.integration
def test_stats_and_alert_commands(
    unconfigured_cwd: pytest.MonkeyPatch, redis_db, stack_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    unconfigured_cwd.setenv("OPINION_REDIS_URL", stack_settings.resolved_redis_url())
    store = AggregateStore(redis_db, stack_settings)
    store.record_batch(
        [make_post("1", T0, "negative", watches=["acme", "bank"]),
         make_post("2", T0 + timedelta(minutes=5), "positive", watches=["acme"]),
         make_post("3", T0 + timedelta(hours=2), "neutral")]
    )  # fmt: skip
    result = runner.invoke(_app(), ["stats", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    overall = report["overall"]
    assert [overall[k] for k in ("volume", "negative", "neutral", "positive")] == [3, 1, 1, 1]
    assert overall["negative_share"] == pytest.approx(1 / 3, abs=1e-5)
    assert overall["mean_negativity"] == pytest.approx((0.9 + 0.05 + 0.2) / 3, abs=1e-5)
    assert set(report["watches"]) == {"acme", "bank"}
    assert report["watches"]["acme"]["volume"] == 2
    assert report["watches"]["acme"]["negative_share"] == 0.5
    window = ["--since", T0.isoformat(), "--until", (T0 + timedelta(minutes=3)).isoformat()]
    one = json.loads(runner.invoke(_app(), ["stats", "--watch", "acme", "--json", *window]).output)
    assert list(one["watches"]) == ["acme"] and one["watches"]["acme"]["volume"] == 1
    assert one["overall"]["volume"] == 1
    assert runner.invoke(_app(), ["stats", "--watch", "zzz"]).exit_code == 1

    AlertStore(redis_db, stack_settings).open(sample_alert())
    listed = runner.invoke(_app(), ["alerts", "list", "--json"])
    assert [a["id"] for a in json.loads(listed.output)] == [sample_alert().id]
    aid = sample_alert().id
    acked = runner.invoke(_app(), ["alerts", "ack", aid, "--by", "ann"])
    assert acked.exit_code == 0 and "acknowledged by ann" in acked.output
    done = runner.invoke(_app(), ["alerts", "resolve", aid, "--by", "ann"])
    assert done.exit_code == 0 and "resolved by ann" in done.output
    again = runner.invoke(_app(), ["alerts", "resolve", aid])
    assert "unchanged (already resolved)" in again.output
    assert runner.invoke(_app(), ["alerts", "ack", "missing"]).exit_code == 1
    text = runner.invoke(_app(), ["alerts", "list", "--state", "resolved"]).output
    assert aid in text and "resolved" in text
    # every change queued its Kafka delivery (a worker sends them)
    queued = json.loads(runner.invoke(_app(), ["alerts", "deliveries", "--json"]).output)
    assert [(d["event"], d["channel"], d["state"]) for d in queued] == [
        ("opened", "kafka", "pending"),
        ("acknowledged", "kafka", "pending"),
        ("resolved", "kafka", "pending"),
    ]


@pytest.mark.integration
def test_deliveries_lists_parked_ones_and_retry_requeues_them(
    unconfigured_cwd: pytest.MonkeyPatch, redis_db, stack_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    unconfigured_cwd.setenv("OPINION_REDIS_URL", stack_settings.resolved_redis_url())
    store = AlertStore(redis_db, stack_settings)
    for alert_id in ("a-1", "a-2"):
        store.open(sample_alert(alert_id))
        [claimed] = store.deliveries.claim("kafka", 30)
        store.deliveries.park(claimed, "PermanentChannelError: HTTP 400 Bad Request")
    listed = runner.invoke(_app(), ["alerts", "deliveries", "--parked"])
    assert listed.exit_code == 0, listed.output
    assert "a-1:opened:kafka" in listed.output and "HTTP 400" in listed.output
    parked = json.loads(runner.invoke(_app(), ["alerts", "deliveries", "--json"]).output)
    assert [(d["id"], d["state"], d["attempts"]) for d in parked] == [
        ("a-1:opened:kafka", "parked", 1),
        ("a-2:opened:kafka", "parked", 1),
    ]
    assert runner.invoke(_app(), ["alerts", "retry"]).exit_code == 2  # what to re-queue?
    one = runner.invoke(_app(), ["alerts", "retry", "a-1:opened:kafka"])
    assert one.exit_code == 0 and "re-queued" in one.output
    assert runner.invoke(_app(), ["alerts", "retry", "a-1:opened:kafka"]).exit_code == 1
    rest = runner.invoke(_app(), ["alerts", "retry", "--all-parked"])
    assert "re-queued 1 parked deliveries" in rest.output
    assert [d.state for d in store.deliveries.pending()] == ["pending", "pending"]
    none = runner.invoke(_app(), ["alerts", "deliveries", "--parked"])
    assert "no parked deliveries" in none.output
