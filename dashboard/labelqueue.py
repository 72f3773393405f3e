"""The labeling queue: which posts are worth an analyst's label, and why (pure logic).

A post qualifies when it is a sample post of an open alert, when the lexicon and the model
disagree on its polarity, or when the model is unsure (highest probability below a
threshold). Alert samples come first, then disagreements, then the least confident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.schemas import SENTIMENT_LABELS, Alert, ScoredPost

LEXICON_MARGIN = 0.05
"""A lexicon compound within ``±LEXICON_MARGIN`` of zero has no polarity."""

REASON_ALERT = "alert sample"
REASON_DISAGREE = "lexicon disagrees"
REASON_UNSURE = "low confidence"


@dataclass
class QueueItem:
    """One post to label, with what the model said and why it is in the queue."""

    post_id: str
    text: str
    lang: str | None
    model_label: str | None
    probabilities: dict[str, float]
    model_version: str | None
    lexicon_score: float | None = None
    watch_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return max(self.probabilities.values(), default=0.0)

    @property
    def priority(self) -> tuple[int, int, float]:
        """Sort key: alert samples, then disagreements, then lowest confidence."""
        return (
            0 if REASON_ALERT in self.reasons else 1,
            0 if REASON_DISAGREE in self.reasons else 1,
            self.confidence,
        )


def disagrees(label: str | None, lexicon_score: float | None) -> bool:
    """Lexicon polarity opposite to the model's label (neutral labels never disagree)."""
    if label is None or lexicon_score is None or abs(lexicon_score) <= LEXICON_MARGIN:
        return False
    return (label == "positive" and lexicon_score < 0) or (
        label == "negative" and lexicon_score > 0
    )


def from_post(post: ScoredPost) -> QueueItem:
    return QueueItem(
        post_id=post.id,
        text=post.text,
        lang=post.lang,
        model_label=post.label,
        probabilities=dict(post.probabilities),
        model_version=post.model_version,
        lexicon_score=post.lexicon_score,
        watch_ids=list(post.watch_ids),
    )


def from_sample(sample: Mapping[str, Any], alert: Alert) -> QueueItem | None:
    """An alert's sample post (a ScoredPost-like dict); ``None`` without id and text."""
    post_id, text = sample.get("id"), sample.get("text")
    if not post_id or not text:
        return None
    probs = sample.get("probabilities") or {}
    label = sample.get("label")
    return QueueItem(
        post_id=str(post_id),
        text=str(text),
        lang=sample.get("lang"),
        model_label=label if label in SENTIMENT_LABELS else None,
        probabilities={k: float(v) for k, v in probs.items() if k in SENTIMENT_LABELS},
        model_version=sample.get("model_version"),
        lexicon_score=sample.get("lexicon_score"),
        watch_ids=list(sample.get("watch_ids") or [alert.watch_id]),
    )


def find_item(
    posts: Iterable[ScoredPost], alerts: Iterable[Alert], post_id: str
) -> QueueItem | None:
    """The monitor's own copy of ``post_id`` (a kept scored post, else an alert's sample):
    what a label for it is built from; ``None`` when the monitor does not hold it."""
    for post in posts:
        if post.id == post_id:
            return from_post(post)
    for alert in alerts:
        for sample in alert.sample_posts:
            if str(sample.get("id")) == post_id:
                item = from_sample(sample, alert)
                if item is not None:
                    return item
    return None


def build_queue(
    posts: Iterable[ScoredPost],
    alerts: Iterable[Alert],
    *,
    exclude: set[str],
    threshold: float,
    limit: int = 200,
) -> list[QueueItem]:
    """Posts worth labeling, best first, without the ids in ``exclude``."""
    items: dict[str, QueueItem] = {}
    for alert in alerts:
        if alert.state == "resolved":
            continue
        for sample in alert.sample_posts:
            item = from_sample(sample, alert)
            if item is None or item.post_id in exclude:
                continue
            item = items.setdefault(item.post_id, item)
            if REASON_ALERT not in item.reasons:
                item.reasons.append(REASON_ALERT)
    for post in posts:
        if post.id in exclude:
            continue
        reasons = []
        if disagrees(post.label, post.lexicon_score):
            reasons.append(REASON_DISAGREE)
        if max(post.probabilities.values(), default=0.0) < threshold:
            reasons.append(REASON_UNSURE)
        if not reasons:
            continue
        item = items.get(post.id) or items.setdefault(post.id, from_post(post))
        if not item.probabilities:  # an alert sample without scores: take the post's
            fresh = from_post(post)
            fresh.reasons = item.reasons
            item = items[post.id] = fresh
        item.reasons.extend(r for r in reasons if r not in item.reasons)
    for item in items.values():  # alert samples may disagree or be unsure too
        if REASON_DISAGREE not in item.reasons and disagrees(item.model_label, item.lexicon_score):
            item.reasons.append(REASON_DISAGREE)
        if item.probabilities and item.confidence < threshold and REASON_UNSURE not in item.reasons:
            item.reasons.append(REASON_UNSURE)
    return sorted(items.values(), key=lambda i: i.priority)[:limit]
