"""A file-system model registry: one folder per version plus an atomic ``current`` pointer.

Layout::

    <root>/versions/<version>/   weights, tokenizer, model_card.json, metrics
    <root>/current               text file holding the current version name
    <root>/history               one line per set_current (version names, oldest first)
    <root>/checksums/<version>.json   sha256 of every file of the version

The pointer is replaced with ``os.replace`` of a temp file, so readers never see a
half-written value. ``publish`` records the checksums of what it copied in (a version
published before checksums existed gets them at its next ``set_current``, i.e. ``opinion
model promote``); ``verify`` re-hashes a version's files against them, and ``set_current``
refuses a version whose files no longer match. ``previous()`` is the version that was
current before this one. The folder name is the version: a scorer loaded from a registry
folder reports it as its ``version``, which is what workers compare with ``current``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_CHUNK = 1 << 20


class RegistryError(RuntimeError):
    """Bad version name, unknown version, or a version that already exists."""


class ChecksumError(RegistryError):
    """A version's files do not match the checksums recorded when it was registered."""


class UnsealedVersion(ChecksumError):
    """A version without recorded checksums (published before the registry kept them)."""


def file_checksums(directory: Path) -> dict[str, str]:
    """sha256 of every regular file under ``directory``, keyed by its relative POSIX path.

    Reads the whole folder (seconds for hundreds of MB): call it off the event loop."""
    directory = Path(directory)
    sums: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
            sums[path.relative_to(directory).as_posix()] = digest.hexdigest()
        elif path.is_symlink():
            sums[path.relative_to(directory).as_posix()] = "symlink"
    return sums


class ModelRegistry:
    """Versions of a model under one directory, with a current pointer."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self._pointer = self.root / "current"
        self._history = self.root / "history"
        self.checksums_dir = self.root / "checksums"

    # --- reading -------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Published versions, oldest first (by publish time)."""
        if not self.versions_dir.is_dir():
            return []
        dirs = [p for p in self.versions_dir.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return [p.name for p in sorted(dirs, key=lambda p: (p.stat().st_mtime, p.name))]

    def path(self, version: str) -> Path:
        return self.versions_dir / self._check(version)

    def current_version(self) -> str | None:
        try:
            value = self._pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return value if value and self.path(value).is_dir() else None

    def current(self) -> Path | None:
        """Directory of the current version, or None when nothing is current."""
        version = self.current_version()
        return self.path(version) if version else None

    def recorded_checksums(self, version: str) -> dict[str, str] | None:
        """The checksums recorded for ``version``, or None when it has none."""
        try:
            raw = json.loads(self._checksum_file(version).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        files = raw.get("files") if isinstance(raw, dict) else None
        return files if isinstance(files, dict) else None

    def verify(self, version: str) -> Path:
        """Re-hash ``version``'s files; its directory when they match what was recorded.

        Raises ``UnsealedVersion`` when nothing was recorded and ``ChecksumError`` naming the
        first file that differs, is missing or was added."""
        dest = self.path(version)
        if not dest.is_dir():
            raise RegistryError(f"unknown version {version!r} in {self.root}")
        expected = self.recorded_checksums(version)
        if expected is None:
            raise UnsealedVersion(
                f"version {version!r} has no recorded checksums (published before the "
                f"registry kept them): run `opinion model promote {version}` to record them"
            )
        actual = file_checksums(dest)
        for name in sorted(set(expected) | set(actual)):
            if expected.get(name) != actual.get(name):
                change = (
                    "is missing"
                    if name not in actual
                    else "was added"
                    if name not in expected
                    else "changed"
                )
                raise ChecksumError(
                    f"version {version!r}: {name} {change} since it was registered "
                    f"(checksums in {self._checksum_file(version)}); re-publish it under a "
                    "new version"
                )
        return dest

    def previous(self) -> str | None:
        """The version that was current before the current one (for rollback)."""
        history = self._read_history()
        current = self.current_version()
        for version in reversed(history):
            if version != current and (self.versions_dir / version).is_dir():
                return version
        return None

    # --- writing -------------------------------------------------------------------------
    def publish(self, src_dir: Path | str, version: str) -> Path:
        """Copy ``src_dir`` in as ``version`` (atomically: copy to a temp dir, then rename)."""
        dest = self.path(version)
        if dest.exists():
            raise RegistryError(f"version {version!r} already exists in {self.root}")
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=self.versions_dir))
        try:
            shutil.copytree(src_dir, tmp, dirs_exist_ok=True)
            self._record(version, file_checksums(tmp))
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    def set_current(self, version: str) -> Path:
        """Point ``current`` at ``version`` and append it to the history.

        Verifies the version's files first (``ChecksumError`` when they changed); a version
        without recorded checksums gets them now, from its files as they are."""
        dest = self.path(version)
        if not dest.is_dir():
            raise RegistryError(f"unknown version {version!r} in {self.root}")
        try:
            self.verify(version)
        except UnsealedVersion:
            self._record(version, file_checksums(dest))
            log.info("recorded checksums of version %s (it had none)", version)
        self.root.mkdir(parents=True, exist_ok=True)
        self._atomic_write(self._pointer, version + "\n")
        history = [*self._read_history(), version][-100:]
        self._atomic_write(self._history, "\n".join(history) + "\n")
        return dest

    # --- helpers -------------------------------------------------------------------------
    @staticmethod
    def _check(version: str) -> str:
        if not _VERSION.match(version):
            raise RegistryError(f"invalid version name {version!r}")
        return version

    def _checksum_file(self, version: str) -> Path:
        return self.checksums_dir / f"{self._check(version)}.json"

    def _record(self, version: str, sums: dict[str, str]) -> None:
        self.checksums_dir.mkdir(parents=True, exist_ok=True)
        body = {"version": version, "algorithm": "sha256", "files": sums}
        self._atomic_write(self._checksum_file(version), json.dumps(body, indent=1) + "\n")

    def _read_history(self) -> list[str]:
        try:
            return [v for v in self._history.read_text(encoding="utf-8").split() if v]
        except OSError:
            return []

    def _atomic_write(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
