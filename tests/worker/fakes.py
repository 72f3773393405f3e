"""Test doubles for worker unit tests (unit tests only; integration tests use real parts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.aggregation.plans import InputPosition
from pipeline.model.types import Prediction
from pipeline.schemas import ScoredPost
from pipeline.worker.dedup import Arrival, Status


class KeywordScorer:
    """Negative when the text says 'terrible', positive for 'great', else neutral; route
    ``fake`` for English (or no language), ``fake-<lang>`` for others."""

    def __init__(self, version: str = "fake-1") -> None:
        self.version = version
        self.calls: list[int] = []

    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        self.calls.append(len(texts))
        out = []
        for text, lang in zip(texts, langs or [None] * len(texts), strict=True):
            if "explode" in text:
                raise RuntimeError("model crashed on this text")
            label = (
                "negative" if "terrible" in text else "positive" if "great" in text else "neutral"
            )
            probs = {k: 0.1 for k in ("negative", "neutral", "positive")} | {label: 0.8}
            out.append(
                Prediction(
                    label,
                    probs,
                    probs["negative"],
                    ["terrible"] if label == "negative" else [],
                    None,
                    lang or "en",
                    "fake" if lang in (None, "en") else f"fake-{lang}",
                )
            )
        return out

    def explain(self, text: str, lang: str | None = None) -> list[tuple[str, float]]:
        return []

    def version_for(self, route: str) -> str:
        return self.version if route == "fake" else f"{self.version}+{route}"


class MemoryGuard:
    """In-memory RepostGuard with the same semantics (no Redis); also the progress sink it
    reads finished offsets from (pass ``progress=guard.record_progress``)."""

    def __init__(self) -> None:
        self.owners: dict[str, tuple[str, InputPosition | None]] = {}
        self.finished: dict[tuple[str, int], int] = {}

    async def classify(self, items: Sequence[Arrival]) -> list[Status]:
        statuses: list[Status] = []
        seen: set[str] = set()
        for item in items:
            at = item.position
            owner, owner_at = self.owners.setdefault(item.fingerprint, (item.post_id, at))
            finished = at is not None and at.offset < self.finished.get(at[:2], 0)
            if finished or item.post_id in seen:
                statuses.append("redelivered")
            elif owner != item.post_id:
                statuses.append("repost")
            else:
                same = owner_at is None or at is None or owner_at == at
                statuses.append("new" if same else "redelivered")
            seen.add(item.post_id)
        return statuses

    async def record_progress(self, progress: list[tuple[str, int, float, int]]) -> None:
        for topic, partition, _ts, offset in progress:
            where = (topic, partition)
            self.finished[where] = max(offset, self.finished.get(where, 0))


class MemoryAggregates:
    """Counts events once, like the idempotent Redis store: by input offset per partition
    when the event has a position, else by id."""

    def __init__(self) -> None:
        self.events: dict[str, ScoredPost] = {}
        self.counts: dict[str, int] = {}
        self.marks: dict[tuple[str, int], int] = {}

    async def record_batch(
        self,
        events: Sequence[ScoredPost],
        positions: Mapping[str, InputPosition] | None = None,
    ) -> int:
        marks = dict(self.marks)
        new = 0
        for event in events:
            at = (positions or {}).get(event.id)
            fresh = event.id not in self.events if at is None else at.offset > marks.get(at[:2], -1)
            if at is not None:
                self.marks[at[:2]] = max(at.offset, self.marks.get(at[:2], -1))
            if fresh:
                new += 1
                self.counts[event.id] = self.counts.get(event.id, 0) + 1
            self.events[event.id] = event
        return new
