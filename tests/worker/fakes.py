"""Test doubles for worker unit tests (unit tests only; integration tests use real parts)."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.model.types import Prediction
from pipeline.schemas import ScoredPost
from pipeline.worker.dedup import Status


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
    """In-memory RepostGuard with the same semantics (no Redis)."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.done: set[str] = set()

    async def classify(self, items: Sequence[tuple[str, str, float]]) -> list[Status]:
        statuses: list[Status] = []
        seen: set[str] = set()
        for post_id, fingerprint, _ts in items:
            owner = self.owners.setdefault(fingerprint, post_id)
            if post_id in self.done or post_id in seen:
                statuses.append("redelivered")
            else:
                statuses.append("new" if owner == post_id else "repost")
            seen.add(post_id)
        return statuses

    async def mark_done(self, post_ids: Sequence[str]) -> None:
        self.done.update(post_ids)


class MemoryAggregates:
    """Counts events by id, like the idempotent Redis store."""

    def __init__(self) -> None:
        self.events: dict[str, ScoredPost] = {}

    async def record_batch(self, events: Sequence[ScoredPost]) -> int:
        new = [e for e in events if e.id not in self.events]
        self.events.update((e.id, e) for e in events)
        return len(new)
