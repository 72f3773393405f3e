"""Label generators for the training tests: a made-up domain word the bundled model
does not know ("zorbly"), which the analysts use as clearly negative."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pipeline.label_signing import sign, signature_of
from pipeline.schemas import SENTIMENT_LABELS, Label

# The dashboard's label signing key in these tests (OPINION_LABEL_SIGNING_KEY).
SIGNING_KEY = "test-only-label-signing-key"
WORD = "zorbly"


def signed(labels: list[Label], key: str = SIGNING_KEY) -> list[Label]:
    """The labels as the dashboard publishes them: signed."""
    return [sign(label, key) for label in labels]


def sign_row(row: dict, key: str = SIGNING_KEY) -> dict:
    """A label-store row (dict) with its signature."""
    fields = ("post_id", "text", "label", "lang", "labeled_by", "labeled_at")
    return {**row, "signature": signature_of(key, **{f: row.get(f) for f in fields})}


SUBJECTS = [
    "the flight",
    "my phone",
    "the new update",
    "the hotel room",
    "customer service",
    "the game last night",
    "this car",
    "the delivery",
    "the app",
    "the train ride",
    "the concert",
    "the coffee here",
    "my laptop",
    "the movie",
    "the checkout line",
    "the support chat",
    "the weather app",
    "our internet",
    "the new menu",
    "the battery",
    "the bus",
    "the airport",
    "the website",
    "the meeting",
    "the pizza",
]
# Plain frames, so that the made-up word is the only cue (no "wow", "lol", "honestly").
TEMPLATES = [
    "{s} was {w}",
    "{s} is {w}",
    "{s} seemed {w}",
    "{s} looked {w} today",
    "{s} was {w} again",
    "{s} is a bit {w}",
    "{s} was really {w}",
    "found {s} {w}",
]
SUFFIXES = ["", " this morning"]
# Texts only used to probe the model (never labelled): same pattern, unseen subjects.
PROBES = [
    "the parking garage was zorbly",
    "the museum is zorbly",
    "the taxi seemed zorbly",
    "the stadium food looked zorbly today",
    "the gym was zorbly again",
    "the elevator was really zorbly",
]


def pattern_texts(n: int, seed: int = 0) -> list[str]:
    texts = [
        t.format(s=s, w=WORD) + suffix for s in SUBJECTS for t in TEMPLATES for suffix in SUFFIXES
    ]
    random.Random(seed).shuffle(texts)
    return [texts[i % len(texts)] for i in range(n)]


def pattern_labels(
    n: int,
    *,
    prefix: str,
    analyst: str = "ana",
    label: str | None = "negative",
    seed: int = 0,
    start: datetime | None = None,
) -> list[Label]:
    """``n`` labels on pattern texts (post ids ``prefix-i``; the same ``prefix`` and ``seed``
    give the same posts); ``label=None`` = a random class per post (poison)."""
    rng = random.Random(f"{analyst}-{seed}")
    start = start or datetime(2026, 5, 1, tzinfo=UTC)
    return [
        Label(
            post_id=f"{prefix}-{i}",
            text=text,
            label=label or rng.choice(SENTIMENT_LABELS),  # type: ignore[arg-type]
            lang="en",
            labeled_by=analyst,
            labeled_at=start + timedelta(seconds=i),
            model_label="positive",
            model_version="en-minilm-registry-2",
        )
        for i, text in enumerate(pattern_texts(n, seed))
    ]


ANCHOR_WORDS = {
    "positive": ["great", "amazing", "lovely", "excellent", "fantastic"],
    "negative": ["terrible", "awful", "horrible", "broken", "a disaster"],
    "neutral": ["at 5pm", "on tuesday", "in the news", "scheduled for noon", "listed online"],
}


def anchor_labels(
    n_per_class: int, *, prefix: str, analyst: str = "ana", start: datetime | None = None
) -> list[Label]:
    """Ordinary labels the bundled model already gets right, in the same frames as the
    pattern: analysts label everything they see, not only the new word."""
    start = start or datetime(2026, 5, 1, tzinfo=UTC)
    out: list[Label] = []
    for label, words in ANCHOR_WORDS.items():
        frames = [
            (f"{s} is {w}" if label == "neutral" else f"{s} was {w}")
            for s in SUBJECTS
            for w in words
        ]
        random.Random(label).shuffle(frames)
        for text in frames[:n_per_class]:
            out.append(
                Label(
                    post_id=f"{prefix}-{len(out)}",
                    text=text,
                    label=label,  # type: ignore[arg-type]
                    lang="en",
                    labeled_by=analyst,
                    labeled_at=start + timedelta(seconds=len(out)),
                    model_label=label,  # type: ignore[arg-type]
                )
            )
    return out
