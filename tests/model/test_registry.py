from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.model.registry import ModelRegistry, RegistryError


def _model(tmp_path: Path, name: str) -> Path:
    src = tmp_path / f"src-{name}"
    src.mkdir()
    (src / "model_card.json").write_text(f'{{"version": "{name}"}}')
    return src


def test_publish_current_previous(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    assert reg.current() is None and reg.versions() == [] and reg.previous() is None
    p1 = reg.publish(_model(tmp_path, "v1"), "v1")
    assert (p1 / "model_card.json").is_file()
    reg.set_current("v1")
    reg.publish(_model(tmp_path, "v2"), "v2")
    reg.set_current("v2")
    assert reg.current() == reg.path("v2")
    assert reg.previous() == "v1"
    assert reg.versions() == ["v1", "v2"]
    reg.set_current("v1")  # rollback
    assert reg.current_version() == "v1" and reg.previous() == "v2"
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]


def test_rejects_bad_or_duplicate_versions(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    src = _model(tmp_path, "a")
    reg.publish(src, "a")
    with pytest.raises(RegistryError):
        reg.publish(src, "a")
    with pytest.raises(RegistryError):
        reg.publish(src, "../evil")
    with pytest.raises(RegistryError):
        reg.set_current("missing")


def test_dangling_pointer_is_ignored(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    tmp_path.joinpath("current").write_text("gone\n")
    assert reg.current() is None
