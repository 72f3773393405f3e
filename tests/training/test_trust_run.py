"""On the real broker: unsigned, forged and future-dated labels on the labels topic are
dropped and counted by `opinion train`; after promote and rollback, a run on the same labels
promotes nothing and its report says why, until an admin re-enables automatic promotion.

The fine-tuning is real but does nothing measurable (one step at a vanishing learning rate),
and the gate asks for no gain: every candidate equals the live model and passes, so what
decides promotion here is the label trust and the rollback hold alone.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.model.registry import ModelRegistry
from pipeline.schemas import Label
from tests.harness import produce
from tests.training.helpers import SIGNING_KEY, anchor_labels, pattern_labels, signed
from training import holds, registry_ops, run
from training.settings import with_training

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _report(outcome: run.Outcome) -> dict:
    assert outcome.report is not None, outcome.line
    return json.loads(outcome.report.read_text())


def test_untrusted_labels_are_dropped_and_a_rollback_holds(
    fresh_topics: Settings, tmp_path: Path
) -> None:
    settings = with_training(
        fresh_topics,
        **{
            "label_signing_key": SIGNING_KEY,
            "model_registry_dir": tmp_path / "models",
            "training_data_dir": tmp_path / "training",
            "training_consumer_group": f"trainer-{uuid.uuid4().hex[:6]}",
            "training_base_train_size": 0,
            "training_base_heldout_size": 10,
            "training_base_val_size": 10,
            "training_min_heldout": 1,
            "training_max_len": 16,
            "training_eval_every": 1,
            "training_lr": 1e-12,
            "training_min_gain": 0.0,
            "training_relearn_after_labels": 5,
        },
    )
    good = signed(pattern_labels(24, prefix="p") + anchor_labels(4, prefix="a"))
    second = signed(pattern_labels(6, prefix="p", analyst="bob", label="positive"))
    mallory = pattern_labels(20, prefix="x", analyst="mallory", label="positive")
    forged = (
        [lb.model_copy(update={"signature": "v1:" + "0" * 64}) for lb in mallory[:5]]
        + [  # a genuine signature on text it was not made for
            signed([lb])[0].model_copy(update={"text": "acme air is great"}) for lb in mallory[5:8]
        ]
    )
    future = signed(
        [
            lb.model_copy(update={"labeled_at": datetime.now(UTC) + timedelta(days=365)})
            for lb in mallory[8:12]
        ]
    )
    unsigned = mallory[12:20]
    everything: list[Label] = [*good, *second, *forged, *future, *unsigned]
    sent = produce(settings, [("labels", lb.post_id.encode(), lb.to_bytes()) for lb in everything])
    assert sent == len(everything)

    # 1. Only the signed, present-dated labels train; the rest is counted by reason.
    first = run.train(settings, max_steps=1)
    assert first.status == "promoted", first.line
    report = _report(first)
    labels = report["labels"]
    assert labels["stored"] == len(everything)
    assert labels["dropped"] == {
        "malformed": 0,
        "unsigned": 8,
        "bad_signature": 8,
        "future_dated": 4,
        "over_daily_cap": 0,
        "eval_overlap": 0,
    }
    assert labels["usable"] == len(good) + len(second)
    assert labels["by_analyst"] == {"ana": len(good), "bob": len(second)}
    assert labels["agreement"] == {"posts": 6, "agreeing": 0, "share": 0.0}
    assert not report["accept_unsigned"] and report["auto_promotion"]["state"] == "none"
    registry = ModelRegistry(settings.registry_dir)
    promoted = registry.current_version()
    assert promoted == first.version
    markdown = first.report.with_suffix(".md").read_text()
    assert "dropped: unsigned 8, bad_signature 8, future_dated 4" in markdown

    # 2. Roll back; the next run on the same labels passes the gate but promotes nothing.
    back, _ = registry_ops.rollback(settings)
    held = run.train(settings, max_steps=1, force=True)
    assert held.status == "held", held.line
    assert registry.current_version() == back != promoted
    report = _report(held)
    assert report["gate"]["promote"] and report["auto_promotion"]["held"]
    why = f"auto-promotion held after rollback of {promoted}"
    assert why in held.message and "0 of 5 labelled posts changed" in held.message
    assert why in held.report.with_suffix(".md").read_text()
    assert json.loads(run.state_path(settings).read_text())["last_completed"]["status"] == "held"

    # 3. An admin re-enables it: the next run promotes, and the hold is gone.
    holds.enable(registry, by="admin")
    again = run.train(settings, max_steps=1, force=True)
    assert again.status == "promoted", again.line
    assert _report(again)["auto_promotion"]["state"] == "released-admin"
    assert holds.load(registry) == {}
