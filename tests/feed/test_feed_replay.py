"""`opinion replay`: speed parsing, pacing, the CLI, and a lossless replay into the real broker."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
import typer
from typer.testing import CliRunner

from devkit.feed.cli import register
from devkit.feed.generate import generate
from devkit.feed.replay import parse_speed, read_jsonl, replay
from devkit.feed.scenario import load_scenario
from pipeline.config import Settings
from pipeline.kafka_io import consumer


def test_parse_speed() -> None:
    assert parse_speed("max") is None
    assert parse_speed("realtime") == 1.0
    assert parse_speed("600x") == 600.0 and parse_speed("2.5") == 2.5
    for bad in ("0x", "fast-ish", "-3x"):
        with pytest.raises(ValueError):
            parse_speed(bad)


class _Future:
    def __init__(self, topic: str) -> None:
        self.topic = topic

    def add_callback(self, fn):  # type: ignore[no-untyped-def]
        fn(self)
        return self

    def add_errback(self, fn):  # type: ignore[no-untyped-def]
        return self


class _RecordingProducer:
    """Stands in for KafkaProducer in the pacing test (no broker involved)."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str]] = []
        self.flushes = 0

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> _Future:
        self.sent.append((self.clock[0], topic))
        return _Future(topic)

    def flush(self) -> None:
        self.flushes += 1


def test_paced_replay_sleeps_by_timestamp_gaps() -> None:
    sc = load_scenario("test-small-v1")
    msgs = list(generate(sc))[:300]
    now = [0.0]
    producer = _RecordingProducer(now)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    summary = replay(
        msgs,
        Settings(_env_file=None),
        speed=60.0,
        progress=False,
        producer=producer,
        clock=lambda: now[0],
        sleep=sleep,
    )
    span = (msgs[-1].at - msgs[0].at).total_seconds() / 60.0
    assert now[0] == pytest.approx(span, abs=0.01)
    for (t, _), msg in zip(producer.sent, msgs, strict=True):
        assert t == pytest.approx((msg.at - msgs[0].at).total_seconds() / 60.0, abs=0.01)
    assert producer.flushes == 1 and summary.acked == 300 and summary.feed.total == 300


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return app


def test_cli_out_and_dry_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "feed.jsonl"
    runner = CliRunner()
    result = runner.invoke(
        _cli(), ["replay", "--scenario", "test-small-v1", "--limit", "500", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    msgs = read_jsonl(out)
    assert len(msgs) == 500 and msgs == list(generate(load_scenario("test-small-v1")))[:500]
    result = runner.invoke(_cli(), ["replay", "-s", "test-small-v1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "incident acme-air-delays on acme-air" in result.output
    assert "kinds: invalid" in result.output
    result = runner.invoke(_cli(), ["replay", "-s", "nope", "--dry-run"])
    assert result.exit_code == 2


@pytest.mark.integration
def test_replay_max_speed_into_broker_loses_nothing(fresh_topics: Settings) -> None:
    sc = load_scenario("test-small-v1")
    feed = generate(sc, shift=timedelta(0))
    expected = Counter((m.topic_role, m.key, m.value) for m in generate(sc))
    summary = replay(feed, fresh_topics, speed=None, progress=False)
    print(f"\nreplayed {summary.acked} messages in {summary.elapsed_s:.2f}s: {summary.rate:,.0f}/s")
    assert summary.failed == 0 and not summary.interrupted
    social, news = fresh_topics.topic("social"), fresh_topics.topic("news")
    assert summary.sent == {
        social: sum(n for (role, _, _), n in expected.items() if role == "social"),
        news: sum(n for (role, _, _), n in expected.items() if role == "news"),
    }

    role_of = {social: "social", news: "news"}
    got: Counter[tuple[str, bytes | None, bytes]] = Counter()
    reader = consumer(fresh_topics, social, news, group_id=None)
    deadline = time.monotonic() + 30
    try:
        while sum(got.values()) < summary.acked and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=500, max_records=5000).values():
                got.update((role_of[r.topic], r.key, r.value) for r in records)
    finally:
        reader.close()
    assert sum(got.values()) == sum(expected.values()), "messages lost or duplicated"
    assert got == expected
