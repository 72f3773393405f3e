"""RegistryFollower without a broker: an update only makes the worker re-read the registry,
and only a registered version whose files match their checksums is loaded."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from pipeline.model.registry import ChecksumError, ModelRegistry
from pipeline.schemas import ModelUpdate
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.model_holder import ModelHolder
from pipeline.worker.model_updates import RegistryFollower, initial_scorer
from tests.worker.fakes import KeywordScorer


class Loads:
    """A loader that records the directories it was asked to load."""

    def __init__(self) -> None:
        self.paths: list[Path | None] = []

    def __call__(self, path: Path | None) -> KeywordScorer:
        self.paths.append(path)
        return KeywordScorer(version=Path(path).name if path else "none")


def _registry(tmp_path: Path, *versions: str) -> ModelRegistry:
    reg = ModelRegistry(tmp_path / "models")
    for version in versions:
        src = tmp_path / f"src-{version}"
        src.mkdir()
        (src / "weights.bin").write_bytes(version.encode() * 100)
        reg.publish(src, version)
    return reg


def _follower(reg: ModelRegistry, current: str) -> tuple[RegistryFollower, Loads, WorkerMetrics]:
    loads, metrics = Loads(), WorkerMetrics()
    holder = ModelHolder(loads, KeywordScorer(version=current))
    return RegistryFollower(holder, reg, metrics), loads, metrics


def test_update_path_is_ignored_and_the_registry_followed(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    reg = _registry(tmp_path, "v1", "v2")
    reg.set_current("v1")
    follower, loads, metrics = _follower(reg, "v1")
    evil = tmp_path / "elsewhere" / "versions" / "evil"
    forged = ModelUpdate(version="evil", path=str(evil))
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(follower.follow(forged)) is False
    assert loads.paths == [] and follower.holder.version == "v1"
    assert "following the registry" in caplog.text

    reg.set_current("v2")
    forged_v2 = ModelUpdate(version="v2", path=str(evil))  # right version, wrong folder
    assert asyncio.run(follower.follow(forged_v2)) is True
    assert loads.paths == [reg.path("v2")] and follower.holder.version == "v2"
    assert metrics.model_version == "v2"


def test_tampered_current_is_refused_once_and_rechecked_after_a_change(
    tmp_path: Path, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    reg = _registry(tmp_path, "v1", "v2")
    reg.set_current("v2")
    (reg.path("v2") / "weights.bin").write_bytes(b"evil weights")
    follower, loads, _ = _follower(reg, "v1")
    verified: list[str] = []
    real_verify = reg.verify
    monkeypatch.setattr(reg, "verify", lambda v: (verified.append(v), real_verify(v))[1])
    with caplog.at_level(logging.ERROR):
        assert asyncio.run(follower.follow()) is False
        assert asyncio.run(follower.follow()) is False  # unchanged: not re-hashed
    assert loads.paths == [] and verified == ["v2"] and follower.holder.version == "v1"
    assert caplog.text.count("Not switching to model v2: version 'v2': weights.bin changed") == 1

    (reg.path("v2") / "weights.bin").write_bytes(b"v2" * 100)  # restored
    assert asyncio.run(follower.follow()) is True
    assert verified == ["v2", "v2"] and follower.holder.version == "v2"


def test_unsealed_current_is_not_hot_swapped(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    reg = _registry(tmp_path, "v1", "old")
    reg.set_current("v1")
    (reg.checksums_dir / "old.json").unlink()
    (reg.root / "current").write_text("old\n")  # a pointer set before checksums existed
    follower, loads, _ = _follower(reg, "v1")
    with caplog.at_level(logging.ERROR):
        assert asyncio.run(follower.follow()) is False
    assert loads.paths == [] and "opinion model promote old" in caplog.text


def test_initial_scorer_verifies_the_registry_current(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pipeline.model
    from pipeline.config import Settings

    loaded: list[Path | None] = []
    monkeypatch.setattr(
        pipeline.model, "load_scorer", lambda s, path=None: loaded.append(path) or KeywordScorer()
    )
    reg = _registry(tmp_path, "v1")
    reg.set_current("v1")
    settings = Settings(_env_file=None, state_dir=tmp_path, model_registry_dir=reg.root)  # type: ignore[call-arg]
    initial_scorer(settings)
    assert loaded == [reg.path("v1")]
    (reg.path("v1") / "weights.bin").write_bytes(b"swapped")
    with pytest.raises(ChecksumError, match=r"weights\.bin changed"):
        initial_scorer(settings)
    (reg.checksums_dir / "v1.json").unlink()  # registered before checksums: loads, warns
    initial_scorer(settings)
    assert loaded == [reg.path("v1"), reg.path("v1")]


@pytest.mark.parametrize(("model_dir", "tasks"), [(None, 2), ("/models/pinned", 0)])
def test_pinned_worker_does_not_follow_updates_or_poll(tmp_path: Path, model_dir, tasks) -> None:  # type: ignore[no-untyped-def]
    from pipeline.config import Settings
    from pipeline.watches.model import WatchSet
    from pipeline.worker.app import create_app
    from pipeline.worker.batch import BatchProcessor
    from tests.worker.fakes import MemoryAggregates, MemoryGuard

    settings = Settings(
        _env_file=None, state_dir=tmp_path, kafka_bootstrap="127.0.0.1:9", app_id="pin-unit",
        model_dir=model_dir,
    )  # fmt: skip

    async def no_watches() -> WatchSet:
        return WatchSet([])

    processor = BatchProcessor(
        settings,
        model=ModelHolder(lambda _p: KeywordScorer(), KeywordScorer()),
        guard=MemoryGuard(),  # type: ignore[arg-type]
        aggregates=MemoryAggregates(),
        watches=no_watches,
    )
    app = create_app(settings, processor=processor)
    names = {task.__name__ for task in app._app_tasks}  # type: ignore[attr-defined]
    assert len(names & {"follow_model_updates", "poll_registry"}) == tasks
