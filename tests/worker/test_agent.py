"""The Faust agent under ``agent.test_context()``: no broker, real batching via take_events."""

from __future__ import annotations

import asyncio
import json

from pipeline.config import Settings
from pipeline.watches.model import WatchSet
from pipeline.worker.app import ListSink, create_app
from pipeline.worker.batch import BatchProcessor
from pipeline.worker.model_holder import ModelHolder
from tests.worker.fakes import KeywordScorer, MemoryAggregates, MemoryGuard


def test_agent_scores_batches_and_dead_letters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        _env_file=None, state_dir=tmp_path, kafka_bootstrap="127.0.0.1:9", batch_max_size=8,
        batch_max_wait_s=0.05, app_id="agent-unit",
    )  # fmt: skip
    scorer = KeywordScorer()
    aggregates = MemoryAggregates()

    async def no_watches() -> WatchSet:
        return WatchSet([])

    processor = BatchProcessor(
        settings,
        model=ModelHolder(lambda _p: scorer, scorer),
        guard=MemoryGuard(),  # type: ignore[arg-type]
        aggregates=aggregates,
        watches=no_watches,
    )
    sink = ListSink()
    app = create_app(settings, processor=processor, sink=sink)
    agent = app.agents["score-posts"]

    async def drive() -> None:
        async with agent.test_context() as test_agent:
            for i in range(20):
                body = {"id": f"a{i}", "source": "news", "created_at": "2026-05-01T10:00:00Z",
                        "text": f"terrible service {i}" if i % 2 else f"great news {i}",
                        "lang": "en"}  # fmt: skip
                await test_agent.put(json.dumps(body).encode(), wait=False)
            await test_agent.put(b"garbage", wait=False)
            for _ in range(100):
                if len(sink.scored) + len(sink.dead) >= 21:
                    break
                await asyncio.sleep(0.05)

    asyncio.run(drive())
    assert sorted(s.id for s in sink.scored) == sorted(f"a{i}" for i in range(20))
    assert len(sink.dead) == 1 and sink.dead[0].stage == "parse"
    assert {s.label for s in sink.scored} == {"negative", "positive"}
    assert max(scorer.calls) > 1, "events were not batched"
    assert len(aggregates.events) == 20


def test_null_and_malformed_model_updates_are_skipped_not_raised() -> None:
    from pipeline.schemas import ModelUpdate
    from pipeline.worker.app import parse_model_update

    assert parse_model_update(None) is None
    assert parse_model_update(b"not json") is None
    assert parse_model_update(b'{"version": 3}') is None
    update = ModelUpdate(version="v2", path="/models/v2")
    assert parse_model_update(update.to_bytes()) == update
