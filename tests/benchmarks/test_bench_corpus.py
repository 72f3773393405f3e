"""The bench corpus read from a feed file written ahead (hosts without the corpus packages)
and restricted to posts whose source declares their language (hosts without lingua)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.throughput import corpus


@pytest.fixture
def fresh_corpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv(corpus.FEED_FILE_ENV, raising=False)
    monkeypatch.delenv(corpus.DECLARED_LANG_ENV, raising=False)
    corpus.load_posts.cache_clear()
    yield monkeypatch
    corpus.load_posts.cache_clear()


def test_a_feed_file_gives_the_same_posts_as_the_generated_feed(
    fresh_corpus: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    generated = corpus.load_posts()
    path = tmp_path / "feed.jsonl.xz"
    written = corpus.write_feed_file(str(path))
    assert written >= len(generated) > 1000

    fresh_corpus.setenv(corpus.FEED_FILE_ENV, str(path))
    corpus.load_posts.cache_clear()
    assert corpus.load_posts() == generated


def test_declared_lang_only_keeps_posts_that_name_their_language(
    fresh_corpus: pytest.MonkeyPatch,
) -> None:
    every = corpus.load_posts()
    assert any(not p.fields.get("lang") for p in every)  # the filter has work to do

    fresh_corpus.setenv(corpus.DECLARED_LANG_ENV, "1")
    corpus.load_posts.cache_clear()
    declared = corpus.load_posts()
    assert declared and all(p.fields.get("lang") for p in declared)
    assert {p.text for p in every if p.fields.get("lang")} <= {p.text for p in declared}


def test_a_missing_feed_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = os.environ | {corpus.FEED_FILE_ENV: str(tmp_path / "missing.jsonl.xz")}
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "bench", "--model", "null", "--messages", "10"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no such file" in lines[0] and corpus.FEED_FILE_ENV in lines[0]
