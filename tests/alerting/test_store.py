"""AlertStore on the real embedded Valkey: one id per alert, updates in place, stream records."""

from __future__ import annotations

import pytest

from pipeline.alerting.store import AlertNotFound, AlertStore
from pipeline.config import Settings
from tests.alerting.servers import sample_alert

pytestmark = pytest.mark.integration


def test_open_ack_resolve_update_the_same_alert(redis_db, stack_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    store = AlertStore(redis_db, stack_settings)
    alert = sample_alert()
    assert store.open(alert) is True
    assert store.open(alert.model_copy(update={"volume": 1})) is False  # no duplicate
    assert store.get(alert.id) == alert
    acked = store.ack(alert.id, "ann")
    assert acked is not None and acked.state == "acknowledged" and acked.acknowledged_by == "ann"
    assert store.ack(alert.id, "bob") is None  # already acknowledged
    resolved = store.resolve(alert.id, by="ann")
    assert resolved is not None and resolved.state == "resolved" and resolved.resolved_at
    assert store.resolve(alert.id) is None and store.ack(alert.id, "x") is None
    assert store.get(alert.id).acknowledged_by == "ann"  # type: ignore[union-attr]
    with pytest.raises(AlertNotFound):
        store.ack("nope", "ann")
    records = store.stream()
    assert [(f["id"], f["event"], f["state"]) for _, f in records] == [
        (alert.id, "opened", "firing"),
        (alert.id, "acknowledged", "acknowledged"),
        (alert.id, "resolved", "resolved"),
    ]
    assert records[2][1]["by"] == "ann"
    assert store.stream(records[0][0]) == records[1:]


def test_list_newest_first_with_filters(redis_db, stack_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    store = AlertStore(redis_db, stack_settings)
    a = sample_alert("a-1", "acme")
    b = sample_alert("b-1", "bank").model_copy(
        update={"created_at": a.created_at.replace(year=2030)}
    )
    store.open(a)
    store.open(b)
    store.resolve("a-1")
    assert [x.id for x in store.list()] == ["b-1", "a-1"]
    assert [x.id for x in store.list(state="firing")] == ["b-1"]
    assert [x.id for x in store.list(watch_id="acme")] == ["a-1"]
    assert [x.id for x in store.list(limit=1)] == ["b-1"]
