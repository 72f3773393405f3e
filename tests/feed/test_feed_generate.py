"""The demo-feed generator: determinism, shape (rhythm, bursts, incidents), ground truth."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest

from devkit.feed.generate import FeedMessage, generate, shift_to_end_now
from devkit.feed.replay import read_jsonl, write_jsonl
from devkit.feed.scenario import (
    MALFORMED_KINDS,
    Burst,
    Chatter,
    Malformed,
    Reposts,
    Rhythm,
    Scenario,
    load_scenario,
    parse_duration,
    scenario_names,
)
from pipeline.config import Settings
from pipeline.schemas import InvalidMessage, parse_post
from pipeline.text.clean import clean_text, repost_fingerprint
from pipeline.watches.model import WatchSet
from pipeline.watches.store import load_watch_file

SETTINGS = Settings(_env_file=None)


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario("test-small-v1")


@pytest.fixture(scope="module")
def feed(small: Scenario) -> list[FeedMessage]:
    return list(generate(small))


def _posts(feed: list[FeedMessage]) -> list[tuple[FeedMessage, dict]]:
    return [(m, json.loads(m.value)) for m in feed if m.expected.kind != "invalid"]


def _neg_share(msgs: list[FeedMessage]) -> float:
    return sum(m.expected.sentiment == "negative" for m in msgs) / max(1, len(msgs))


def _one_stream(small: Scenario, **changes: object) -> Scenario:
    """test-small reduced to one calm stream, no noise: for shape tests."""
    stream = small.stream("zentro").model_copy(update={"news_per_hour": 0})
    base = {
        "streams": [stream],
        "incidents": [],
        "bursts": [],
        "chatter": Chatter(),
        "reposts": Reposts(fraction=0),
        "malformed": Malformed(fraction=0),
    }
    return small.model_copy(update=base | changes)


def test_shipped_scenarios_load() -> None:
    assert {"demo-v1", "test-small-v1"} <= set(scenario_names())
    demo = load_scenario("demo-v1")
    assert demo.scenario_version == 1 and len(demo.incidents) == 2 and len(demo.bursts) == 2
    assert parse_duration("1d6h") == 30 * 3600 and parse_duration("90s") == 90


def test_watches_file_loads_with_the_watch_store(small: Scenario) -> None:
    watches = load_watch_file(small.watches_path())
    ids = {w.id for w in watches}
    assert len(watches) >= 5
    for name in ("demo-v1", "test-small-v1"):
        assert {s.watch for s in load_scenario(name).streams} <= ids


def test_same_seed_same_bytes(small: Scenario, feed: list[FeedMessage]) -> None:
    again = list(generate(small))
    assert [(m.at, m.key, m.value, m.topic_role) for m in again] == [
        (m.at, m.key, m.value, m.topic_role) for m in feed
    ]
    other = list(generate(small.model_copy(update={"seed": small.seed + 1})))
    assert [m.value for m in other[:50]] != [m.value for m in feed[:50]]


def test_size_order_ids(feed: list[FeedMessage]) -> None:
    assert 3000 <= len(feed) <= 8000
    assert all(a.at <= b.at for a, b in pairwise(feed))
    assert len({m.id for m in feed}) == len(feed)
    assert all(m.key in (m.id.encode(), None) for m in feed)
    assert Counter(m.topic_role for m in feed)["news"] > 10


def test_every_valid_post_parses(feed: list[FeedMessage]) -> None:
    tags: Counter[str] = Counter()
    for msg, _ in _posts(feed):
        post = parse_post(
            msg.value, max_bytes=SETTINGS.max_message_bytes, max_text_chars=SETTINGS.max_text_chars
        )
        assert post.id == msg.id and post.source == msg.topic_role
        assert post.created_at == msg.at
        assert (post.lang is None) == ("lang_missing" in msg.expected.tags)
        if "extra_fields" in msg.expected.tags:
            assert post.metadata and set(post.metadata) & {"retweets", "client", "geo"}
        if msg.topic_role == "news":
            assert post.title and post.url and post.source_name
        tags.update(msg.expected.tags)
    for tag in ("pii", "extra_fields", "lang_missing", "near_miss", "cross_mention"):
        assert tags[tag] > 0, tag


def test_every_malformed_message_is_rejected(feed: list[FeedMessage]) -> None:
    invalid = [m for m in feed if m.expected.kind == "invalid"]
    assert {m.expected.invalid for m in invalid} == set(MALFORMED_KINDS)
    for msg in invalid:
        with pytest.raises(InvalidMessage) as err:
            parse_post(
                msg.value,
                max_bytes=SETTINGS.max_message_bytes,
                max_text_chars=SETTINGS.max_text_chars,
            )
        assert err.value.stage == msg.expected.stage, (msg.expected.invalid, err.value)


def test_expected_watches_are_what_the_queries_match(
    small: Scenario, feed: list[FeedMessage]
) -> None:
    watches = WatchSet(load_watch_file(small.watches_path()))
    for msg, post in _posts(feed):
        got = watches.match(
            post["text"],
            lang=msg.expected.lang or "",
            source=post["source"],
            title=post.get("title"),
        )
        assert tuple(sorted(got)) == msg.expected.watch_ids, post["text"]
    near = [m for m, _ in _posts(feed) if "near_miss" in m.expected.tags]
    assert near and all(m.expected.watch_ids == () for m in near)


def test_reposts_copy_text_from_other_authors(feed: list[FeedMessage]) -> None:
    by_id = {m.id: (m, json.loads(m.value)) for m in feed if m.expected.kind != "invalid"}
    reposts = [(m, p) for m, p in by_id.values() if m.expected.kind == "repost"]
    assert len(reposts) > 0.03 * len(by_id)
    for msg, post in reposts:
        original, opost = by_id[msg.expected.repost_of]  # type: ignore[index]
        assert opost["text"] == post["text"] and opost["author"] != post["author"]
        assert timedelta(0) < msg.at - original.at <= timedelta(minutes=5)
        assert msg.expected.watch_ids == original.expected.watch_ids


def test_originals_never_look_like_reposts(feed: list[FeedMessage]) -> None:
    """No original repeats the repost fingerprint of a post from the last dedup window."""
    last: dict[str, datetime] = {}
    window = timedelta(seconds=SETTINGS.dedup_window_s)
    for msg, post in _posts(feed):
        if msg.topic_role != "social":
            continue
        fp = repost_fingerprint(clean_text(post["text"]))
        if msg.expected.kind == "valid":
            assert fp not in last or msg.at - last[fp] > window, post["text"]
        last[fp] = msg.at


def test_incident_window_is_negative_and_calm_watches_are_not(
    small: Scenario, feed: list[FeedMessage]
) -> None:
    inc = small.incidents[0]
    core_start = small.start + timedelta(seconds=inc.start + inc.ramp)
    core_end = small.start + timedelta(seconds=inc.start + inc.duration - inc.ramp)
    valid = [m for m in feed if m.expected.kind != "invalid"]
    in_core = [m for m in valid if core_start <= m.at < core_end]
    hit = [m for m in in_core if inc.watch in m.expected.watch_ids]
    calm = [m for m in in_core if m.expected.watch_ids == ("zentro",)]
    own = [m for m in hit if m.expected.watch_ids == (inc.watch,)]
    assert own and all(m.expected.incident == inc.name for m in own)
    assert _neg_share(hit) >= 0.7
    assert _neg_share(calm) <= 0.45
    before = [m for m in valid if m.at < small.start + timedelta(seconds=inc.start)]
    assert _neg_share([m for m in before if m.expected.watch_ids == (inc.watch,)]) <= 0.45
    # Incident volume is up, and the calm watch is busy enough for a per-minute detector.
    per_min = len([m for m in valid if "zentro" in m.expected.watch_ids]) / (small.duration / 60)
    assert per_min >= 3
    baseline = [m for m in before if inc.watch in m.expected.watch_ids]
    rate_before = len(baseline) / inc.start
    assert len(hit) / (core_end - core_start).total_seconds() > 1.5 * rate_before


def test_daily_rhythm(small: Scenario) -> None:
    rhythm = Rhythm(peak_hour=14, amplitude=0.75)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    day = _one_stream(small, duration=86400.0, start=start, rhythm=rhythm)
    hours = np.bincount([m.at.hour for m in generate(day)], minlength=24)
    shape = 1 + rhythm.amplitude * np.cos(2 * np.pi * (np.arange(24) + 0.5 - rhythm.peak_hour) / 24)
    assert np.corrcoef(hours, shape)[0, 1] > 0.95
    assert hours[12:17].mean() > 4 * hours[0:5].mean()  # busy afternoons, quiet nights


def test_burst_raises_volume_not_negativity(small: Scenario) -> None:
    burst = Burst(watch="zentro", start=7200, duration=3600, multiplier=4, phrases=["Launch!"])
    sc = _one_stream(small, bursts=[burst])
    msgs = list(generate(sc))
    inside = [m for m in msgs if m.expected.burst]
    outside = [m for m in msgs if not m.expected.burst]
    rate_out = len(outside) / (sc.duration - burst.duration)
    assert len(inside) / burst.duration > 2.5 * rate_out
    assert abs(_neg_share(inside) - _neg_share(outside)) < 0.08
    assert 0.18 <= _neg_share(outside) <= 0.38


def test_shift_to_now_moves_times_and_ids(small: Scenario, feed: list[FeedMessage]) -> None:
    now = datetime.now(UTC)
    shifted = list(generate(small, shift=shift_to_end_now(small, now)))
    assert now - timedelta(minutes=30) < shifted[-1].at <= now
    assert shifted[0].at - feed[0].at == shifted[-1].at - feed[-1].at
    assert shifted[0].id != feed[0].id
    assert json.loads(shifted[0].value)["created_at"] != json.loads(feed[0].value)["created_at"]


def test_jsonl_round_trip(tmp_path, feed: list[FeedMessage]) -> None:  # type: ignore[no-untyped-def]
    sample = feed[:200] + [m for m in feed if m.expected.kind == "invalid"]
    path = tmp_path / "feed.jsonl"
    assert write_jsonl(iter(sample), path) == len(sample)
    assert read_jsonl(path) == sample


def test_demo_v1_incidents_and_calm_watches() -> None:
    demo = load_scenario("demo-v1")
    msgs = [m for m in generate(demo) if m.expected.kind != "invalid"]
    assert 25_000 < len(msgs) < 50_000
    hourly: dict[tuple[str, int], list[FeedMessage]] = defaultdict(list)
    for m in msgs:
        for watch in m.expected.watch_ids:
            hourly[(watch, int((m.at - demo.start).total_seconds() // 3600))].append(m)
    incident_watches = {i.watch for i in demo.incidents}
    for inc in demo.incidents:
        core = [m for m in msgs if m.expected.incident == inc.name]
        assert _neg_share(core) > 0.6, inc.name
    calm: dict[str, list[FeedMessage]] = defaultdict(list)
    for (watch, _hour), group in hourly.items():
        if watch in incident_watches:
            continue
        calm[watch] += group
        if len(group) >= 100:  # smaller hours are noisy (binomial sd ~0.07 at 40 posts)
            assert 0.15 <= _neg_share(group) <= 0.45, watch
    assert len(calm) >= 3
    for watch, group in calm.items():
        assert 0.22 <= _neg_share(group) <= 0.34, watch
