"""Replay a generated feed into the social/news topics: real time, N x speed, or max.

Keys are post ids; sends are batched by the producer (no per-message flush) and acks are
counted by callbacks, so the summary's "sent" counts only acknowledged messages.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from devkit.feed.generate import FeedMessage, FeedSummary
from devkit.feed.scenario import Scenario
from pipeline.config import Settings

log = logging.getLogger(__name__)

_SPEED = re.compile(r"^(\d+(?:\.\d+)?)\s*x?$", re.I)


def parse_speed(text: str) -> float | None:
    """``realtime`` -> 1.0, ``60x`` (or ``60``) -> 60.0, ``max`` -> None (no pacing)."""
    value = text.strip().lower()
    if value in ("max", "fast", "asap"):
        return None
    if value in ("realtime", "real-time", "1x"):
        return 1.0
    match = _SPEED.match(value)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"speed must be 'realtime', 'Nx' (e.g. '60x') or 'max', not {text!r}")
    return float(match.group(1))


@dataclass
class ReplaySummary:
    """What a replay did: the feed's counts and what the broker acknowledged."""

    feed: FeedSummary = field(default_factory=FeedSummary)
    sent: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def acked(self) -> int:
        return sum(self.sent.values())

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else 0.0


def replay(
    messages: Iterable[FeedMessage],
    settings: Settings,
    *,
    speed: float | None = None,
    limit: int | None = None,
    progress: bool = True,
    total: int | None = None,
    producer: Any = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    """Produce ``messages`` to ``settings.topic('social'|'news')``.

    ``speed``: None = as fast as possible, 1.0 = real time, N = N times faster (gaps between
    ``at`` timestamps divided by N). ``producer``: a kafka-python producer (default: one from
    ``pipeline.kafka_io.producer``, closed at the end). Ctrl-C stops early, still flushing.
    """
    from pipeline.kafka_io import ensure_topics
    from pipeline.kafka_io import producer as make_producer
    from pipeline.topics_cli import forget_counted

    topics = {"social": settings.topic("social"), "news": settings.topic("news")}
    summary = ReplaySummary(sent=dict.fromkeys(topics.values(), 0))
    own = producer is None
    if own:
        specs = settings.topics()
        created = ensure_topics(settings, [specs["social"], specs["news"]])
        if created:
            forget_counted(settings, created)  # a recreated topic restarts at offset 0
        producer = make_producer(settings)

    def acked(metadata: Any) -> None:
        summary.sent[metadata.topic] = summary.sent.get(metadata.topic, 0) + 1

    def failed(exc: BaseException) -> None:
        summary.failed += 1
        if len(summary.errors) < 5:
            summary.errors.append(repr(exc))

    if limit is not None:
        messages = islice(messages, limit)
        total = min(total, limit) if total is not None else limit
    if total is None and hasattr(messages, "__len__"):
        total = len(messages)  # type: ignore[arg-type]
    bar = tqdm(total=total, unit="msg", disable=not progress, mininterval=0.5, smoothing=0.1)
    first: datetime | None = None
    started = clock()
    pending_bar = 0
    try:
        for msg in messages:
            if speed is not None:
                first = first or msg.at
                due = started + (msg.at - first).total_seconds() / speed
                wait = due - clock()
                if wait > 0:
                    bar.update(pending_bar)
                    pending_bar = 0
                    sleep(wait)
            future = producer.send(topics[msg.topic_role], key=msg.key, value=msg.value)
            future.add_callback(acked)
            future.add_errback(failed)
            summary.feed.add(msg)
            pending_bar += 1
            if pending_bar >= 500:
                bar.update(pending_bar)
                pending_bar = 0
    except KeyboardInterrupt:
        summary.interrupted = True
        log.warning("interrupted: flushing what was sent so far")
    finally:
        bar.update(pending_bar)
        producer.flush()
        summary.elapsed_s = clock() - started
        bar.close()
        if own:
            producer.close()
    return summary


def write_jsonl(messages: Iterable[FeedMessage], path: Path, *, limit: int | None = None) -> int:
    """Write messages as JSON lines (``FeedMessage.to_json``); returns how many."""
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for msg in islice(messages, limit):
            fh.write(json.dumps(msg.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: Path) -> list[FeedMessage]:
    """Messages written by ``write_jsonl`` (or ``opinion replay --out``)."""
    with path.open(encoding="utf-8") as fh:
        return [FeedMessage.from_json(json.loads(line)) for line in fh if line.strip()]


def describe(scenario: Scenario, shift: timedelta = timedelta(0)) -> list[str]:
    """The scenario's timeline in a few lines (times shifted like the messages)."""
    start = scenario.start + shift

    def window(offset: float, duration: float) -> str:
        a = start + timedelta(seconds=offset)
        b = a + timedelta(seconds=duration)
        return f"{a.isoformat()} .. {b.isoformat()}"

    lines = [
        f"scenario {scenario.name} (v{scenario.scenario_version}, seed {scenario.seed}): "
        f"{window(0, scenario.duration)}" + (f"  [shifted by {shift}]" if shift else ""),
    ]
    for inc in scenario.incidents:
        lines.append(
            f"incident {inc.name} on {inc.watch}: {window(inc.start, inc.duration)}, "
            f"negative share -> {inc.negative_share:.0%}"
        )
    for burst in scenario.bursts:
        lines.append(
            f"burst on {burst.watch}: {window(burst.start, burst.duration)}, "
            f"x{burst.multiplier:g} volume"
        )
    return lines


def format_counts(feed: FeedSummary) -> list[str]:
    """The feed's counts by kind, malformation, watch and incident."""

    def join(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"

    return [
        f"messages: {feed.total} ({join(feed.by_topic)})",
        f"kinds: {join(feed.by_kind)}",
        f"invalid: {join(feed.invalid)}",
        f"by watch: {join(feed.by_watch)}",
        f"incident posts: {join(feed.incidents)}",
    ]
