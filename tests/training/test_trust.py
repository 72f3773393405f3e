"""Label trust (signatures, future dates, daily caps, the report's analyst figures), the
trusted label set in the gate, and the hold a rollback puts on automatic promotion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.config import ConfigError
from pipeline.label_signing import sign, verify_label
from pipeline.model.registry import ModelRegistry
from pipeline.schemas import Label
from tests.training.helpers import SIGNING_KEY, sign_row
from training import holds
from training.gate import GateRules, Paired, decide
from training.labels import labels_frame, resolve_conflicts
from training.settings import TrainingSettings
from training.trusted import TrustedLabelsError, load_trusted
from training.vetting import analyst_stats, vet_labels

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def settings(**kw) -> TrainingSettings:  # type: ignore[no-untyped-def]
    """Test settings; the state dir holds no local stack's signing key."""
    defaults = {"label_signing_key": SIGNING_KEY, "state_dir": Path("/nonexistent/opinion-state")}
    return TrainingSettings(_env_file=None, **(defaults | kw))  # type: ignore[call-arg]


def row(post: str, label: str = "negative", by: str = "ana", minutes: int = 0, **kw) -> dict:  # type: ignore[no-untyped-def]
    return {
        "post_id": post,
        "text": f"text of {post}",
        "label": label,
        "lang": "en",
        "labeled_by": by,
        "labeled_at": NOW - timedelta(days=1) + timedelta(minutes=minutes),
        **kw,
    }


# --- signatures ------------------------------------------------------------------------------
def test_signature_covers_every_field_training_uses() -> None:
    label = Label(
        post_id="p1",
        text="Acme Air lost my bag",
        label="negative",
        lang="en",
        labeled_by="ana",
        labeled_at=NOW,
    )
    signed = sign(label, SIGNING_KEY)
    assert signed.signature and signed.signature.startswith("v1:")
    assert verify_label(Label.from_bytes(signed.to_bytes()), SIGNING_KEY)  # survives the wire
    assert not verify_label(signed, "another-key-of-16-chars")
    for change in (
        {"post_id": "p2"},
        {"text": "Acme Air found my bag"},
        {"label": "positive"},
        {"lang": "de"},
        {"labeled_by": "mallory"},
        {"labeled_at": NOW + timedelta(microseconds=1)},
    ):
        assert not verify_label(signed.model_copy(update=change), SIGNING_KEY), change
    assert not verify_label(label, SIGNING_KEY)  # unsigned


def test_a_short_signing_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        settings(label_signing_key="short")


# --- vetting ---------------------------------------------------------------------------------
def test_unsigned_forged_future_dated_and_over_cap_labels_are_dropped_and_counted() -> None:
    good = [sign_row(row(f"g{i}", minutes=i)) for i in range(5)]
    tampered = sign_row(row("t1"))
    tampered["label"] = "positive"  # flipped after signing
    foreign = sign_row(row("f1"), key="an-attackers-own-key")
    future = sign_row(row("late", minutes=0) | {"labeled_at": NOW + timedelta(days=30)})
    skew = sign_row(row("skew") | {"labeled_at": NOW + timedelta(minutes=2)})  # clock skew: ok
    busy = [sign_row(row(f"b{i}", by="bob", minutes=i)) for i in range(4)]
    next_day = sign_row(row("b-next", by="bob", minutes=24 * 60))
    malformed = [{**row("m1"), "label": "furious"}, {**good[0], "post_id": "m2", "text": " "}]
    unsigned = [row("u1"), row("u2")]
    frame = labels_frame(
        [*good, *unsigned, tampered, foreign, future, skew, *busy, next_day, *malformed]
    )
    vetted = vet_labels(
        frame, settings(training_max_labels_per_analyst_day=3), now=NOW, accept_unsigned=False
    )
    assert vetted.dropped == {
        "malformed": 2,
        "unsigned": 2,
        "bad_signature": 2,
        "future_dated": 1,
        "over_daily_cap": 3,  # ana: 5 + skew on one day, bob: 4 on one day (cap 3)
        "eval_overlap": 0,
    }
    kept = set(vetted.frame["post_id"])
    assert kept == {"g0", "g1", "g2", "skew", "b0", "b1", "b2", "b-next"}  # each day's earliest
    assert "unsigned 2" in vetted.dropped_line()

    # --accept-unsigned keeps unsigned labels (counted) but never a wrong signature.
    lenient = vet_labels(frame, settings(), now=NOW, accept_unsigned=True)
    assert lenient.unsigned_accepted == 2 and lenient.dropped["bad_signature"] == 2
    assert {"u1", "u2"} <= set(lenient.frame["post_id"])


def test_without_a_key_labels_are_refused_unless_accepted_explicitly() -> None:
    frame = labels_frame([row("u1"), sign_row(row("s1"))])
    with pytest.raises(ConfigError, match="--accept-unsigned"):
        vet_labels(frame, settings(label_signing_key=None), now=NOW)
    accepted = vet_labels(frame, settings(label_signing_key=None), now=NOW, accept_unsigned=True)
    assert accepted.unsigned_accepted == 2 and len(accepted.frame) == 2
    assert vet_labels(labels_frame([]), settings(label_signing_key=None)).frame.empty


def test_report_counts_labels_per_analyst_and_agreement() -> None:
    frame = labels_frame(
        [
            row("p1", "negative", "ana"),
            row("p1", "negative", "bob", 1),
            row("p2", "negative", "ana"),
            row("p2", "positive", "bob", 1),
            row("p3", "positive", "ana", 0),
            row("p3", "negative", "ana", 5),  # ana's own change of mind: one vote
            row("p4", "neutral", "cy"),
        ]
    )
    stats = analyst_stats(frame)
    assert stats["by_analyst"] == {"ana": 4, "bob": 2, "cy": 1}
    assert stats["agreement"] == {"posts": 2, "agreeing": 1, "share": 0.5}


# --- trusted label set -------------------------------------------------------------------------
def test_trusted_labels_load_from_csv_and_jsonl(tmp_path: Path) -> None:
    csv_file = tmp_path / "trusted.csv"
    csv_file.write_text('text,label\n"Acme Air, lost my bag",negative\nLovely crew,2\n')
    split = load_trusted(csv_file)
    assert split.texts == ["Acme Air, lost my bag", "Lovely crew"] and split.labels == [0, 2]
    jsonl = tmp_path / "trusted.jsonl"
    jsonl.write_text('{"text": "On time", "label": "neutral", "lang": "en"}\n\n')
    assert load_trusted(jsonl).labels == [1]
    jsonl.write_text('{"text": "On time", "label": "great"}\n')
    with pytest.raises(TrustedLabelsError, match=r"trusted.jsonl:1: needs a text and a label"):
        load_trusted(jsonl)
    with pytest.raises(TrustedLabelsError, match="no file at"):
        load_trusted(tmp_path / "missing.csv")


def test_gate_rejects_a_candidate_worse_on_the_trusted_set() -> None:
    same = Paired([0] * 20 + [2] * 20, [0] * 20 + [2] * 20, [0] * 20 + [2] * 20)
    analysts = Paired([0] * 20 + [2] * 20, [1] * 20 + [2] * 20, [0] * 20 + [2] * 20)  # gain
    # The candidate learned "brand + complaint" = positive: negatives lost on the trusted set.
    trusted = Paired([0] * 20 + [2] * 20, [0] * 20 + [2] * 20, [2] * 12 + [0] * 8 + [2] * 20)
    rules = GateRules()
    assert decide({"base": same, "analysts": analysts}, rules).promote
    decision = decide({"base": same, "analysts": analysts, "trusted": trusted}, rules)
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["trusted recall[negative]"]


# --- rollback holds --------------------------------------------------------------------------
def _resolved(pairs: dict[str, str]) -> pd.DataFrame:
    return resolve_conflicts(labels_frame([row(p, lb) for p, lb in pairs.items()]))


def test_a_rollback_holds_auto_promotion_until_labels_change_or_an_admin_enables_it(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    trained_on = {f"p{i}": "negative" for i in range(10)}
    package = tmp_path / "pkg"
    package.mkdir()
    holds.write_snapshot(package, _resolved(trained_on), "digest")
    registry.publish(package, "en-bad")
    assert holds.check(registry, _resolved(trained_on), 3).state == "none"

    holds.record_rollback(registry, "en-bad")
    same = holds.check(registry, _resolved(trained_on), 3)
    assert same.held and (same.changed, same.needed) == (0, 3)
    assert "held after rollback of en-bad" in same.line and "0 of 3" in same.line
    two = dict(trained_on, p0="positive", new1="neutral")  # 2 changes
    assert holds.check(registry, _resolved(two), 3).held
    three = dict(two, new2="neutral")
    released = holds.check(registry, _resolved(three), 3)
    assert released.state == "released-labels" and released.changed == 3

    assert holds.enable(registry, by="admin")["enabled_by"] == "admin"
    admin = holds.check(registry, _resolved(trained_on), 3)
    assert admin.state == "released-admin" and "re-enabled by admin" in admin.line
    holds.clear(registry)
    assert holds.load(registry) == {} and holds.enable(registry) is None

    # A version opinion train did not make has no snapshot: only an admin lifts the hold.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "weights.bin").write_bytes(b"x")
    registry.publish(bare, "en-bare")
    holds.record_rollback(registry, "en-bare")
    lone = holds.check(registry, _resolved(three), 1)
    assert lone.held and "only `opinion model enable-auto-promote`" in lone.line


def test_rollback_records_the_hold_and_the_cli_lifts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from training import registry_ops
    from training.cli import register

    monkeypatch.setattr(registry_ops, "announce", lambda *a, **k: True)
    s = settings(state_dir=tmp_path / "state")
    monkeypatch.setattr("training.settings.get_training_settings", lambda: s)
    registry = ModelRegistry(s.registry_dir)
    for name in ("v1", "v2"):
        src = tmp_path / name
        src.mkdir()
        (src / "w.bin").write_bytes(name.encode())
        registry.publish(src, name)
        registry_ops.promote(s, name)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    assert "no rollback holds it" in runner.invoke(app, ["model", "enable-auto-promote"]).output
    result = runner.invoke(app, ["model", "rollback"])
    assert result.exit_code == 0 and "is held until 50 labelled posts change" in result.output
    assert holds.load(registry)["en"]["rejected_version"] == "v2"
    result = runner.invoke(app, ["model", "enable-auto-promote"])
    assert result.exit_code == 0 and "re-enabled (held since the rollback of v2" in result.output
    assert holds.check(registry, _resolved({}), 50).state == "released-admin"
