"""A running worker on the real broker and Redis trusts the registry, not the model-updates
topic: a null record and a forged update naming another folder change nothing (the worker
keeps its model and keeps consuming), a genuine promotion swaps, and a promoted version
whose files were tampered with afterwards is refused."""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.model.registry import ModelRegistry
from pipeline.schemas import ModelUpdate, Post
from tests.faults.helpers import WORKER_ENV
from tests.faults.tiny_model import build_tiny_checkpoint
from tests.harness import WorkerProcess, consume_all, produce
from training.registry_ops import announce, promote

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _versions_of_probes(settings: Settings, round_: int) -> set[str]:
    """Send three posts through the worker; the model versions that scored them."""
    at = datetime(2026, 7, 1, tzinfo=UTC) + timedelta(hours=2 * round_)
    ids = [f"trust-{round_}-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    posts = [
        Post(id=pid, source="social", created_at=at, text=f"probe {pid}", lang="en") for pid in ids
    ]
    produce(settings, (("social", p.id.encode(), p.to_bytes()) for p in posts))
    wanted = set(ids)
    seen = consume_all(
        settings, "scored", until=lambda got: wanted <= {m["id"] for m in got}, timeout_s=90
    )
    by_id = {m["id"]: m for m in seen if m["id"] in wanted}
    assert set(by_id) == wanted, f"scored {len(by_id)} of 3 probes"
    return {m["model_version"] for m in by_id.values()}


def _wait_for_log(worker: WorkerProcess, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in worker.log_path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError(f"worker never logged {text!r}:\n{worker.log_tail()}")
        time.sleep(0.3)


def test_worker_ignores_forged_and_null_updates_and_follows_the_registry(
    fresh_topics: Settings, tmp_path: Path
) -> None:
    tiny = build_tiny_checkpoint(tmp_path / "tiny")
    settings = fresh_topics.model_copy(
        update={"model_registry_dir": tmp_path / "models", "multilingual": False}
    )
    registry = ModelRegistry(settings.registry_dir)
    registry.publish(tiny, "v1")
    registry.set_current("v1")
    evil = tmp_path / "elsewhere" / "versions" / "evil"  # loads as version "evil" if trusted
    shutil.copytree(tiny, evil)
    # No poll during the test: every switch must come from the update follower.
    worker = WorkerProcess(settings, name="trust", env=WORKER_ENV, model_poll_s=600.0)
    try:
        worker.wait_ready(180)
        assert _versions_of_probes(settings, 1) == {"v1"}

        # 1. a null record, then a forged update naming another folder
        forged = ModelUpdate(version="evil", path=str(evil))
        updates = [("model_updates", b"null", None), ("model_updates", b"evil", forged.to_bytes())]
        assert produce(settings, updates) == 2  # type: ignore[arg-type]
        _wait_for_log(worker, "Ignoring a model update record without a value")
        _wait_for_log(worker, "names 'evil' but the registry's current version is v1")
        assert _versions_of_probes(settings, 2) == {"v1"}

        # 2. a genuine promotion (announced by the trainer's code) is still followed
        registry.publish(tiny, "v2")
        assert promote(settings, "v2")
        deadline = time.monotonic() + 60
        round_ = 3
        while (versions := _versions_of_probes(settings, round_)) != {"v2"}:
            assert time.monotonic() < deadline, f"worker still on {versions}, not v2"
            round_ += 1
            time.sleep(1)

        # 3. files changed after promotion: the worker refuses them and keeps v2
        registry.publish(tiny, "v3")
        registry.set_current("v3")
        (registry.path("v3") / "model_card.json").write_text('{"version": "tampered"}')
        assert announce(settings, registry, "v3", "promote")
        _wait_for_log(worker, "Not switching to model v3")
        assert _versions_of_probes(settings, round_ + 1) == {"v2"}
        assert worker.metrics()["opinion_model_swaps_total"] == 1
    finally:
        worker.stop()
    assert "Crashed reason" not in worker.log_path.read_text(errors="replace")
