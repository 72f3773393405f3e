"""BatchProcessor without a broker: validation, dead letters, reposts, scoring, fallbacks."""

from __future__ import annotations

import asyncio
import json

import pytest

from pipeline.config import Settings
from pipeline.watches.model import Watch, WatchSet
from pipeline.worker.batch import BatchProcessor, RawMessage
from pipeline.worker.model_holder import ModelHolder
from tests.worker.fakes import KeywordScorer, MemoryAggregates, MemoryGuard

WATCHES = WatchSet([Watch(id="acme", name="Acme", query='acme OR "acme air"')])


def post(i: int, text: str, **extra: object) -> RawMessage:
    body = {"id": f"p{i}", "source": "social", "created_at": "2026-05-01T10:00:00+00:00",
            "text": text, "lang": "en"} | extra  # fmt: skip
    return RawMessage(value=json.dumps(body).encode(), topic="in", partition=0, offset=i)


def make_processor(scorer: KeywordScorer | None = None) -> tuple[BatchProcessor, MemoryAggregates]:
    aggregates = MemoryAggregates()

    async def watches() -> WatchSet:
        return WATCHES

    guard = MemoryGuard()
    processor = BatchProcessor(
        Settings(_env_file=None, max_text_chars=100),
        model=ModelHolder(lambda _p: KeywordScorer(), scorer or KeywordScorer()),
        guard=guard,  # type: ignore[arg-type]
        aggregates=aggregates,
        watches=watches,
        progress=guard.record_progress,
    )
    return processor, aggregates


def run(processor: BatchProcessor, batch: list[RawMessage]):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        result = await processor.process(batch)
        await processor.commit(result)
        return result

    return asyncio.run(go())


def test_valid_invalid_and_reposts_are_separated() -> None:
    processor, aggregates = make_processor()
    batch = [
        post(1, "Acme Air was terrible, mail me at jo@example.com", author="@jo"),
        post(2, "great day"),
        post(3, "RT @someone: Acme Air was terrible, mail me at jo@example.com"),  # repost
        RawMessage(value=b"{not json", topic="in", offset=4),
        RawMessage(value=b"\xff\xfe", topic="in", offset=5),
        post(6, "x" * 101),
        post(7, "   "),
        RawMessage(value=json.dumps({"id": 8, "source": "social"}).encode(), topic="in"),
        post(1, "Acme Air was terrible, mail me at jo@example.com"),  # same id again
    ]
    result = run(processor, batch)
    assert [s.id for s in result.scored] == ["p1", "p2"]
    assert result.duplicates == 1 and result.redelivered == 1
    reasons = {d.offset: (d.stage, d.error) for d in result.dead}
    assert reasons[4][0] == "parse" and "malformed JSON" in reasons[4][1]
    assert reasons[5][0] == "decode"
    assert reasons[6][1].startswith("text: 101 characters")
    assert "empty" in reasons[7][1]
    assert len(result.dead) == 5
    acme = result.scored[0]
    assert acme.watch_ids == ["acme"] and acme.label == "negative"
    assert "[email]" in acme.text and "jo@example.com" not in acme.text
    assert acme.author_hash and "jo" not in acme.author_hash
    assert acme.model_version == "fake-1"
    assert set(aggregates.events) == {"p1", "p2"}


def test_each_post_carries_the_version_of_the_model_that_scored_it() -> None:
    processor, _ = make_processor()
    result = run(processor, [post(1, "Acme was great"), post(2, "Acme fue terrible", lang="es")])
    by_id = {s.id: (s.model_route, s.model_version) for s in result.scored}
    assert by_id == {"p1": ("fake", "fake-1"), "p2": ("fake-es", "fake-1+fake-es")}


def test_redelivery_after_commit_is_not_rescored() -> None:
    processor, _ = make_processor()
    run(processor, [post(1, "great")])
    again = run(processor, [post(1, "great")])
    assert again.scored == [] and again.redelivered == 1


def test_a_post_that_crashes_the_model_is_dead_lettered_alone() -> None:
    processor, _ = make_processor()
    result = run(processor, [post(1, "great"), post(2, "this will explode"), post(3, "terrible")])
    assert [s.id for s in result.scored] == ["p1", "p3"]
    assert [(d.stage, d.offset) for d in result.dead] == [("score", 2)]


def test_batch_is_scored_in_one_model_call() -> None:
    scorer = KeywordScorer()
    processor, _ = make_processor(scorer)
    run(processor, [post(i, f"great {i}") for i in range(20)])
    assert scorer.calls == [20]


@pytest.mark.parametrize("bad", [b"", b"[]", b'"text"', b"null", b"{" * 5000 + b"}" * 5000])
def test_hostile_payloads_never_raise(bad: bytes) -> None:
    processor, _ = make_processor()
    result = run(processor, [RawMessage(value=bad, topic="in")])
    assert len(result.dead) == 1 and result.dead[0].original() == bad


def test_watches_match_handles_before_masking() -> None:
    processor, _ = make_processor()
    result = run(processor, [post(1, "@Acme you lost my bag")])
    assert result.scored[0].watch_ids == ["acme"]
    assert result.scored[0].text == "@user you lost my bag"


def test_handle_scores_in_chunks_and_commits_each_in_order_before_returning() -> None:
    scorer = KeywordScorer()
    processor, aggregates = make_processor(scorer)
    processor.settings = processor.settings.model_copy(update={"batch_max_size": 4})
    published: list[list[str]] = []
    committed_when_published: list[int] = []

    async def publish(result) -> None:  # type: ignore[no-untyped-def]
        committed_when_published.append(len(aggregates.events))
        await asyncio.sleep(0.01)  # the next chunk is scored meanwhile
        published.append([s.id for s in result.scored])

    asyncio.run(processor.handle([post(i, f"great day {i}") for i in range(10)], publish))
    assert scorer.calls == [4, 4, 2]
    assert published == [["p0", "p1", "p2", "p3"], ["p4", "p5", "p6", "p7"], ["p8", "p9"]]
    assert committed_when_published == [0, 4, 8]  # chunk i+1 publishes after i is committed
    assert set(aggregates.events) == {f"p{i}" for i in range(10)}
