"""Hostile input through the real pipeline: >= 10,000 hypothesis-generated messages (random
bytes, deep and huge JSON, wrong types, control and zero-width characters, mixed scripts,
unpaired surrogates, ~1 MB payloads) produced to the real broker and processed by a real
worker. The worker must not crash, and every acknowledged message must come out either
scored or dead-lettered with a reason - nothing else, nothing missing."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipeline.config import Settings
from pipeline.kafka_io import producer
from pipeline.redis_io import redis_client
from tests.faults.helpers import Row, start_worker
from tests.harness import read_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES, PER_EXAMPLE = 150, (60, 90)  # ~11,000 messages
FIELDS = {"id", "source", "created_at", "text", "author", "lang", "title", "metadata"}
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e"
SCRIPTS = "aé中文日本語한국어русскийالعربيةעבריתहिन्दीไทย😀🏳️‍🌈Ω𝔘"

# Text mixing the nasty classes: controls, zero-width/bidi, combining marks, scripts, emoji.
nasty_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(ZERO_WIDTH + SCRIPTS + "\x00\x01\x1b\x7f\x85\u2028\u0301 \t\n@.+#"),
    ),
    max_size=120,
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    nasty_text,
)
json_any = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(nasty_text, kids, max_size=4),
    max_leaves=12,
)
NON_STRING = json_any.filter(lambda v: not isinstance(v, str))
UNKNOWN_KEY = nasty_text.filter(lambda k: k not in FIELDS)
created = st.one_of(
    st.just("2026-03-05T10:00:00+00:00"),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # naive: invalid
    nasty_text,
)


@dataclass(frozen=True)
class Msg:
    """One generated message; ``post_id`` is set when it is post-shaped with a string id."""

    value: bytes | None
    post_id: str | None = None


def _deep(depth: int, opener: str, closer: str, leaf: str = "1") -> str:
    return opener * depth + leaf + closer * depth


@st.composite
def hostile_message(draw: st.DrawFn, n: int) -> Msg:
    """Message number ``n`` (its id and text token make valid posts unique)."""
    kind = draw(st.sampled_from(KINDS))
    pid = f"fz-{n}"
    base: dict[str, Any] = {
        "id": pid,
        "source": "social",
        "created_at": "2026-03-05T10:00:00+00:00",
        "text": f"fz{n} " + draw(nasty_text),
    }
    if kind == "bytes":
        return Msg(draw(st.binary(max_size=300)))
    if kind == "null":
        return Msg(None)
    if kind == "json-any":
        return Msg(json.dumps(draw(json_any)).encode())
    if kind == "deep":
        depth = draw(st.sampled_from([50, 500, 5_000, 100_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        if draw(st.booleans()):  # deep inside an otherwise valid post
            body = json.dumps(base)[:-1] + ', "metadata": {"x": ' + _deep(depth, opener, closer)
            return Msg((body + "}}").encode(), pid)
        return Msg(_deep(depth, opener, closer).encode())
    if kind == "wrong-types":
        body = dict(base)
        for field in draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3)):
            # a string id or text would make a valid post that may repeat another one
            value = draw(NON_STRING if field == "id" else json_any)
            if field == "text" and isinstance(value, str):
                value = f"fz{n} {value}"
            body[field] = value
        body.update(draw(st.dictionaries(UNKNOWN_KEY, json_any, max_size=3)))
        return Msg(json.dumps(body).encode(), pid if body["id"] == pid else None)
    if kind == "surrogate":
        field = draw(st.sampled_from(["text", "title", "url", "author", "source_name", "id"]))
        raw = json.dumps(base)[:-1] + f', "{field}": "x\\ud8{draw(st.integers(0, 255)):02x}y"}}'
        return Msg(raw.encode(), pid)
    if kind == "invisible":
        text = draw(st.text(alphabet=ZERO_WIDTH + " \t\x00\x1b", min_size=1, max_size=40))
        return Msg(json.dumps(base | {"text": text}).encode(), pid)
    if kind == "huge":
        size = draw(st.sampled_from([25_000, 600_000, 990_000, 1_010_000, 1_300_000]))
        char = draw(st.sampled_from(["a", "é", "中", "😀", "@a ", "\u200b", "x@y.io "]))
        field = draw(st.sampled_from(["text", "title", "metadata"]))
        filler = char * (size // len(char.encode()))
        if field == "text":  # keep it unique: 25 kB of emoji is a valid text, and a repost
            filler = f"fz{n} {filler}"
        body = base | ({"metadata": {"blob": filler}} if field == "metadata" else {field: filler})
        return Msg(json.dumps(body, ensure_ascii=False).encode(), pid)
    # "post": a plausible post with hostile but legal content and optional fields
    body = base | draw(
        st.fixed_dictionaries(
            {},
            optional={
                "title": nasty_text,
                "author": nasty_text,
                "lang": st.sampled_from(["en", "zh", "ar", "xx", "", "EN-us"]),
                "url": nasty_text,
                "source": st.sampled_from(["social", "news"]),
                "created_at": created,
                "schema_version": st.integers(-3, 3),
            },
        )
    )
    return Msg(json.dumps(body, ensure_ascii=draw(st.booleans())).encode(), pid)


KINDS = (  # weights out of 200: ~50 huge (~1 MB) messages in ~10,500
    ["post"] * 60
    + ["wrong-types"] * 30
    + ["bytes"] * 24
    + ["json-any"] * 24
    + ["deep"] * 12
    + ["surrogate"] * 16
    + ["invisible"] * 12
    + ["null"] * 4
    + ["huge"] * 1
)


def generate() -> list[Msg]:
    """Run the hypothesis strategy for ``EXAMPLES`` examples and keep every message."""
    out: list[Msg] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        for _ in range(data.draw(st.integers(*PER_EXAMPLE))):
            out.append(data.draw(hostile_message(next(numbers))))

    numbers = itertools.count()  # unique ids and text tokens across all examples
    collect()
    return out


def test_fuzz_hostile_messages_are_scored_or_dead_lettered(
    fresh_topics: Settings, tiny_model: Path, fault_report: list[Row]
) -> None:
    settings_ = fresh_topics
    redis_client(settings_).flushdb()
    messages = generate()
    assert len(messages) >= 10_000
    assert len({m.post_id for m in messages if m.post_id}) == sum(1 for m in messages if m.post_id)

    worker = start_worker(settings_, "fuzz", model_dir=tiny_model, batch_max_size=128)
    acked: dict[tuple[int, int], Msg] = {}
    refused: list[str] = []
    try:
        client = producer(settings_, linger_ms=20)
        topic = settings_.topic("social")

        def ok(md: Any, msg: Msg) -> None:
            acked[(md.partition, md.offset)] = msg

        for i, msg in enumerate(messages):
            try:
                fut = client.send(topic, key=f"k{i}".encode(), value=msg.value)
            except Exception as exc:  # refused before sending (e.g. over max_request_size)
                refused.append(type(exc).__name__)
                continue
            fut.add_callback(ok, msg=msg)
            fut.add_errback(lambda exc: refused.append(type(exc).__name__))
        client.flush(120)
        client.close()
        processed = wait_processed(worker, len(acked), timeout_s=900)
        scored, dead, reasons_ok = read_outputs(settings_, len(acked), timeout_s=120)
        alive = worker.proc.poll() is None
        metrics = worker.metrics() if alive else {}
    finally:
        worker.stop()

    log = worker.log_path.read_text(errors="replace")
    assert alive, f"the worker died:\n{worker.log_tail()}"
    assert "Crashed reason" not in log, log[-5000:]
    missing = [
        (pos, m.value[:80] if m.value else m.value)
        for pos, m in acked.items()
        if pos not in dead and (m.post_id is None or m.post_id not in scored)
    ]
    both = [pos for pos, m in acked.items() if pos in dead and m.post_id in scored]
    fault_report.append(
        Row(
            "fuzz: hostile messages (hypothesis)",
            messages_in=len(acked),
            scored=len(scored),
            dead_lettered=len(dead),
            lost=len(missing),
            double_counted=sum(scored.values()) - len(scored),
            note=f"{len(messages)} generated; {len(refused)} refused by the producer "
            f"({', '.join(sorted(set(refused))) or '-'}); worker alive, "
            f"{int(metrics.get('opinion_consumed_total', 0))} consumed, "
            f"{log.count('Unexpected error preparing')} caught by the catch-all",
        )
    )
    assert not missing, (processed, missing[:10])
    assert processed["opinion_duplicates_total"] == 0, "unique posts were taken for reposts"
    assert not both, both[:10]
    assert reasons_ok, "a dead letter without a reason or stage"
    assert set(dead) <= set(acked), "dead letters for messages nobody sent"
    assert set(scored) <= {m.post_id for m in acked.values()}, "scored posts nobody sent"
    assert all(v == 1 for v in scored.values()), "a post was scored twice"
    assert metrics["opinion_consumed_total"] == len(acked)


def wait_processed(worker: Any, total: int, timeout_s: float) -> dict[str, float]:
    """Until the worker finished (published and committed) ``total`` messages; its counters."""
    deadline = time.monotonic() + timeout_s
    metrics: dict[str, float] = {}
    while time.monotonic() < deadline and worker.proc.poll() is None:
        try:
            metrics = worker.metrics()
        except OSError:  # a busy event loop can be slow to answer: try again
            time.sleep(1)
            continue
        done = sum(metrics[f"opinion_{k}_total"] for k in ("scored", "dead_lettered", "duplicates"))
        if done >= total:
            break
        time.sleep(1)
    return metrics


def read_outputs(
    settings_: Settings, total: int, timeout_s: float
) -> tuple[dict[str, int], set[tuple[int, int]], bool]:
    """Scored ids (with counts) and dead-letter positions, until ``total`` came out."""
    scored: dict[str, int] = {}
    dead: set[tuple[int, int]] = set()
    reasons_ok = True
    for role, data in read_records(
        settings_,
        ("scored", "dead_letter"),
        done=lambda: len(scored) + len(dead) >= total,
        timeout_s=timeout_s,
        max_partition_fetch_bytes=4 << 20,  # scored events and dead letters of ~1 MB
    ):
        if role == "scored":
            scored[data["id"]] = scored.get(data["id"], 0) + 1
        else:
            dead.add((data["partition"], data["offset"]))
            reasons_ok &= bool(data["error"].strip()) and bool(data["stage"])
    return scored, dead, reasons_ok
