"""The run lock, the short-circuit outcomes of a run, and the registry commands.

No broker here: label collection and announcements are replaced by stand-ins.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.model import BUNDLED_EN
from pipeline.model.card import ModelCard
from pipeline.model.registry import ModelRegistry, RegistryError
from tests.training.helpers import SIGNING_KEY, sign_row
from training import labels as labels_mod
from training import registry_ops, run
from training.labels import Collected, labels_frame
from training.lock import LockBusy, RunLock
from training.settings import TrainingSettings

ROOT = Path(__file__).resolve().parents[2]


def make_settings(tmp_path: Path, **kw) -> TrainingSettings:  # type: ignore[no-untyped-def]
    return TrainingSettings(  # type: ignore[call-arg]
        _env_file=None,
        state_dir=tmp_path / "state",
        kafka_bootstrap="127.0.0.1:9",
        **({"label_signing_key": SIGNING_KEY} | kw),
    )


# --- lock ------------------------------------------------------------------------------------
def test_lock_is_exclusive_across_processes_and_freed_when_the_holder_dies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "train.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from training.lock import RunLock
                RunLock({str(path)!r}).acquire()
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy) as busy:
            RunLock(path).acquire()
        assert busy.value.pid == holder.pid
        assert str(busy.value) == f"a training run is already in progress (pid {holder.pid})"
    finally:
        holder.kill()  # kill -9: no clean release
        holder.wait(10)
    with RunLock(path):
        assert RunLock(path).holder() == os.getpid()
    assert RunLock(path).holder() is None


# --- run outcomes without training ---------------------------------------------------------
@pytest.fixture()
def no_kafka(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Replace collection with a queue of label batches (lists of dict rows)."""
    batches: list[list[dict]] = []

    def fake_collect(settings, run_id, store):  # type: ignore[no-untyped-def]
        rows = batches.pop(0) if batches else []
        frame = labels_frame(
            [{**r, "collected_at": datetime.now(UTC), "run_id": run_id} for r in rows]
        )
        store.append(frame, run_id)
        return Collected(frame, len(rows), 0)

    monkeypatch.setattr(labels_mod, "collect_labels", fake_collect)
    return batches


def label_rows(n: int, prefix: str = "p", label: str = "negative") -> list[dict]:
    return [
        sign_row(
            {
                "post_id": f"{prefix}{i}",
                "text": f"the thing number {i} was zorbly",
                "label": label,
                "lang": "en",
                "labeled_by": "ana",
                "labeled_at": datetime(2026, 5, 1, tzinfo=UTC),
            }
        )
        for i in range(n)
    ]


def test_no_labels_is_nothing_new(tmp_path: Path, no_kafka) -> None:  # type: ignore[no-untyped-def]
    outcome = run.train(make_settings(tmp_path))
    assert (outcome.status, outcome.exit_code) == ("nothing-new", 0)
    assert "nothing new to learn" in outcome.message


def test_too_few_held_out_labels_waits_and_keeps_them(tmp_path: Path, no_kafka) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, training_min_heldout=50)
    no_kafka.append(label_rows(40))
    outcome = run.train(settings)
    assert (outcome.status, outcome.exit_code) == ("waiting", 0)
    assert "need 50" in outcome.message
    assert len(labels_mod.LabelStore(settings.training_dir / "labels").read()) == 40
    assert run.load_state(settings) == {}  # not a completed run: the labels count as new


def test_same_labels_as_the_last_completed_run_is_nothing_new(tmp_path: Path, no_kafka) -> None:  # type: ignore[no-untyped-def]
    from training.labels import LabelStore, fingerprint, resolve_conflicts

    settings = make_settings(tmp_path)
    no_kafka.append(label_rows(30))
    store = LabelStore(settings.training_dir / "labels")
    labels_mod.collect_labels(settings, "r0", store)
    digest = fingerprint(resolve_conflicts(store.read()))
    run.save_state(
        settings,
        {"last_completed": {"run_id": "r0", "labels_fingerprint": digest, "live_version": "v"}},
    )
    no_kafka.append(label_rows(30))  # the same labels again (a re-delivery)
    outcome = run.train(settings)
    assert outcome.status == "nothing-new" and "since run r0" in outcome.message


def test_labels_that_may_not_train_stop_the_run_saying_why(tmp_path: Path, no_kafka) -> None:  # type: ignore[no-untyped-def]
    from pipeline.config import ConfigError

    unsigned = [{k: v for k, v in r.items() if k != "signature"} for r in label_rows(30)]
    no_kafka.append(unsigned)
    outcome = run.train(make_settings(tmp_path))
    assert outcome.status == "nothing-new"
    assert "none of the 30 stored labels may train (dropped: unsigned 30" in outcome.message
    with pytest.raises(ConfigError, match="OPINION_LABEL_SIGNING_KEY is not set"):
        run.train(make_settings(tmp_path, label_signing_key=None))


def test_busy_when_another_run_holds_the_lock(tmp_path: Path, no_kafka) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    with RunLock(settings.training_dir / "train.lock"):
        outcome = run.train(settings)
    assert (outcome.status, outcome.exit_code) == ("busy", 0)
    assert f"a training run is already in progress (pid {os.getpid()})" in outcome.message


def test_cli_exit_codes(tmp_path: Path, no_kafka, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import typer

    from training.cli import register

    app = typer.Typer()
    register(app)
    settings = make_settings(tmp_path)
    monkeypatch.setattr("training.settings.get_training_settings", lambda: settings)
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 0 and "nothing-new: nothing new to learn" in result.output

    def broken(*a, **k):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(run, "_train_locked", broken)
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 1 and "failed: OSError: disk full" in result.output


# --- registry operations -------------------------------------------------------------------
def fake_version(tmp_path: Path, name: str) -> Path:
    src = tmp_path / f"src-{name}"
    src.mkdir(parents=True)
    ModelCard(version=name).save(src)
    return src


def test_first_promotion_registers_the_bundled_default_for_rollback(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry_ops.ensure_registered(registry, BUNDLED_EN) == "en-minilm-registry-2"
    assert registry.current_version() == "en-minilm-registry-2"
    assert (registry.path("en-minilm-registry-2") / "model.safetensors").is_file()
    # Already the current registry version: nothing is copied or appended again.
    history = (registry.root / "history").read_text()
    live = registry.path("en-minilm-registry-2")
    assert registry_ops.ensure_registered(registry, live) == "en-minilm-registry-2"
    assert (registry.root / "history").read_text() == history


def test_promote_rollback_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    announced: list[tuple[str, str]] = []
    monkeypatch.setattr(
        registry_ops,
        "announce",
        lambda settings, registry, version, action: announced.append((version, action)) or True,
    )
    settings = make_settings(tmp_path)
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry_ops.rollback(settings)
    registry = ModelRegistry(settings.registry_dir)
    for name in ("v1", "v2"):
        registry.publish(fake_version(tmp_path, name), name)
        time.sleep(0.01)
    registry_ops.promote(settings, "v1")
    registry_ops.promote(settings, "v2")
    assert registry_ops.rollback(settings) == ("v1", True)
    assert registry.current_version() == "v1"
    assert announced == [("v1", "promote"), ("v2", "promote"), ("v1", "rollback")]
    rows = registry_ops.describe(registry)
    assert [(r["version"], r["current"], r["previous"]) for r in rows] == [
        ("v1", True, False),
        ("v2", False, True),
    ]


def test_announce_failure_is_a_warning_not_a_crash(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, kafka_connect_timeout_s=1.0)
    registry = ModelRegistry(settings.registry_dir)
    registry.publish(fake_version(tmp_path, "v1"), "v1")
    assert registry_ops.promote(settings, "v1") is False
    assert registry.current_version() == "v1"
    assert "workers switch at their next registry poll" in caplog.text


def test_model_cli_list_and_rollback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from training.cli import register

    monkeypatch.setattr(registry_ops, "announce", lambda *a, **k: True)
    settings = make_settings(tmp_path)
    monkeypatch.setattr("training.settings.get_training_settings", lambda: settings)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    assert "bundled default model is live" in runner.invoke(app, ["model", "list"]).output
    result = runner.invoke(app, ["model", "rollback"])
    assert result.exit_code == 1 and "nothing to roll back to" in result.output
    registry = ModelRegistry(settings.registry_dir)
    for name in ("v1", "v2"):
        registry.publish(fake_version(tmp_path, name), name)
        time.sleep(0.01)
    assert runner.invoke(app, ["model", "promote", "v1"]).exit_code == 0
    assert runner.invoke(app, ["model", "promote", "v2"]).exit_code == 0
    assert runner.invoke(app, ["model", "promote", "nope"]).exit_code == 1
    listing = runner.invoke(app, ["model", "list"]).output
    assert "* v2" in listing and "^ v1" in listing
    result = runner.invoke(app, ["model", "rollback"])
    assert result.exit_code == 0 and "current -> v1" in result.output
