from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.model.registry import ChecksumError, ModelRegistry, RegistryError, UnsealedVersion


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


def test_publish_records_checksums_and_verify_accepts_intact_files(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    src = _model(tmp_path, "v1")
    (src / "sub").mkdir()
    (src / "sub" / "weights.bin").write_bytes(b"\x00" * 3000)
    reg.publish(src, "v1")
    recorded = reg.recorded_checksums("v1")
    assert recorded is not None and set(recorded) == {"model_card.json", "sub/weights.bin"}
    assert reg.verify("v1") == reg.path("v1")


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (lambda d: (d / "model_card.json").write_text('{"version": "evil"}'), "model_card.json"),
        (lambda d: (d / "model.safetensors").write_bytes(b"x"), "model.safetensors was added"),
        (lambda d: (d / "model_card.json").unlink(), "model_card.json is missing"),
    ],
)
def test_tampered_version_is_refused_naming_the_file(tmp_path: Path, tamper, named) -> None:  # type: ignore[no-untyped-def]
    reg = ModelRegistry(tmp_path / "models")
    reg.publish(_model(tmp_path, "v1"), "v1")
    tamper(reg.path("v1"))
    with pytest.raises(ChecksumError, match=named):
        reg.verify("v1")
    with pytest.raises(ChecksumError):
        reg.set_current("v1")  # promote/rollback refuse it too
    assert reg.current_version() is None


def test_version_without_checksums_is_unsealed_until_promoted(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    reg.publish(_model(tmp_path, "old"), "old")
    (reg.checksums_dir / "old.json").unlink()  # as published before checksums existed
    with pytest.raises(UnsealedVersion, match="opinion model promote old"):
        reg.verify("old")
    reg.set_current("old")  # what `opinion model promote old` does: records them
    assert reg.verify("old") == reg.path("old")
