"""A file-system model registry: one folder per version plus an atomic ``current`` pointer.

Layout::

    <root>/versions/<version>/   weights, tokenizer, model_card.json, metrics
    <root>/current               text file holding the current version name
    <root>/history               one line per set_current (version names, oldest first)

The pointer is replaced with ``os.replace`` of a temp file, so readers never see a
half-written value. ``previous()`` is the version that was current before this one. The
folder name is the version: a scorer loaded from a registry folder reports it as its
``version``, which is what workers compare with the ``current`` pointer.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


class RegistryError(RuntimeError):
    """Bad version name, unknown version, or a version that already exists."""


class ModelRegistry:
    """Versions of a model under one directory, with a current pointer."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self._pointer = self.root / "current"
        self._history = self.root / "history"

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
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    def set_current(self, version: str) -> Path:
        """Point ``current`` at ``version`` and append it to the history."""
        dest = self.path(version)
        if not dest.is_dir():
            raise RegistryError(f"unknown version {version!r} in {self.root}")
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
