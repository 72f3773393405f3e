"""Labels leave the dashboard built from the monitor's own copy of the post, stamped and
signed there; a label for a post the monitor does not hold is refused (real broker, Redis)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from dashboard import data
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.label_signing import verify_label
from pipeline.schemas import Label
from tests.dashboard.helpers import alert, post
from tests.harness import consume_all

pytestmark = pytest.mark.integration

KEY = "test-only-dashboard-signing-key"


def test_label_is_the_monitors_post_signed_and_unknown_posts_are_refused(
    dash_settings, redis_db, caplog, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(data, "_warned_unsigned", False)
    signing = dash_settings.model_copy(update={"label_signing_key": KEY})
    # No key set and no local stack's key in its state dir.
    keyless = dash_settings.model_copy(update={"state_dir": tmp_path / "keyless"})
    AggregateStore(redis_db, signing).record_batch(
        [post("known-1", "negative", text="Acme Air lost my bag at the gate")]
    )
    AlertStore(redis_db, signing).open(
        alert(samples=[{"id": "sample-1", "text": "Stuck on the tarmac", "label": "negative"}])
    )

    with pytest.raises(data.UnknownPost, match="not one the monitor scored"):
        data.publish_label(signing, "made-up-post", "positive", "mallory")
    before = datetime.now(UTC)
    sent = data.publish_label(signing, "known-1", "positive", "analyst")
    from_alert = data.publish_label(signing, "sample-1", "neutral", "analyst")
    with caplog.at_level(logging.WARNING, logger="dashboard.data"):
        unsigned = data.publish_label(keyless, "known-1", "negative", "bob")
        data.publish_label(keyless, "known-1", "negative", "bob")

    wanted = {(sent.post_id, sent.labeled_by), (unsigned.post_id, unsigned.labeled_by)}
    got = consume_all(
        signing,
        "labels",
        until=lambda msgs: wanted <= {(m["post_id"], m["labeled_by"]) for m in msgs},
        timeout_s=30,
    )
    assert "made-up-post" not in {m["post_id"] for m in got}
    assert len(got) == 4
    wire = Label.model_validate(next(m for m in got if m["labeled_by"] == "analyst"))
    assert wire.text == "Acme Air lost my bag at the gate" and wire.label == "positive"
    assert wire.model_label == "negative" and wire.model_version == "test-model-1"
    assert before <= wire.labeled_at <= datetime.now(UTC)
    assert verify_label(wire, KEY) and not verify_label(wire, KEY + "-other")
    assert from_alert.text == "Stuck on the tarmac" and verify_label(from_alert, KEY)
    # Without a key the label still goes out, unsigned, with one warning per process.
    assert unsigned.signature is None
    assert caplog.text.count("OPINION_LABEL_SIGNING_KEY is not set") == 1
    assert {m.decode() for m in redis_db.smembers(data.LABELED_KEY)} == {"known-1", "sample-1"}
