"""Label store, deduplication, conflict resolution and collection from Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import Settings
from pipeline.schemas import Label
from tests.harness import produce
from training.labels import (
    LabelStore,
    collect_labels,
    deduplicate,
    fingerprint,
    labels_frame,
    resolve_conflicts,
)
from training.settings import with_training

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def row(post: str, label: str, by: str, minutes: int, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "post_id": post,
        "text": f"text of {post}",
        "label": label,
        "lang": "en",
        "labeled_by": by,
        "labeled_at": T0 + timedelta(minutes=minutes),
        "collected_at": T0 + timedelta(hours=1),
        "run_id": "r1",
        **extra,
    }


def resolved_labels(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["post_id"], frame["label"], strict=True))


def test_exact_duplicates_are_dropped_but_relabels_kept() -> None:
    frame = labels_frame(
        [
            row("p1", "negative", "ana", 0, kafka_offset=1),
            row("p1", "negative", "ana", 0, kafka_offset=7),  # re-delivery
            row("p1", "positive", "ana", 5, kafka_offset=8),  # ana changed her mind
        ]
    )
    out = deduplicate(frame)
    assert len(out) == 2
    assert list(out["kafka_offset"]) == [1, 8]
    # The same message read again after a crash, its missing labeled_at filled in differently.
    reread = labels_frame(
        [
            row("p2", "neutral", "bob", 0, kafka_partition=0, kafka_offset=9),
            row("p2", "neutral", "bob", 30, kafka_partition=0, kafka_offset=9),
            row("p2", "neutral", "bob", 60, kafka_partition=0, kafka_offset=12),  # a new label
        ]
    )
    assert list(deduplicate(reread)["kafka_offset"]) == [9, 12]


def test_latest_policy_takes_the_latest_label() -> None:
    frame = labels_frame(
        [
            row("p1", "negative", "ana", 0),
            row("p1", "positive", "bob", 10),
            row("p1", "neutral", "cy", 5),
            row("p2", "neutral", "ana", 1),
        ]
    )
    out = resolve_conflicts(frame, "latest")
    assert resolved_labels(out) == {"p1": "positive", "p2": "neutral"}
    p1 = out.set_index("post_id").loc["p1"]
    assert p1["labeled_by"] == "bob" and p1["n_labels"] == 3 and p1["n_analysts"] == 3


def test_majority_policy_counts_each_analysts_latest_vote() -> None:
    frame = labels_frame(
        [
            # ana votes negative twice (one vote), then changes to positive: her vote is
            # positive; bob and cy say negative -> negative wins 2:1.
            row("p1", "negative", "ana", 0),
            row("p1", "negative", "ana", 1),
            row("p1", "positive", "ana", 9),
            row("p1", "negative", "bob", 2),
            row("p1", "negative", "cy", 3),
            # a tie (1:1): the label voted most recently wins.
            row("p2", "neutral", "ana", 0),
            row("p2", "positive", "bob", 4),
        ]
    )
    out = resolve_conflicts(frame, "majority")
    assert resolved_labels(out) == {"p1": "negative", "p2": "positive"}
    assert resolved_labels(resolve_conflicts(frame, "latest")) == {
        "p1": "positive",
        "p2": "positive",
    }


def test_resolution_is_order_independent() -> None:
    rows = [
        row(f"p{i % 7}", ["negative", "neutral", "positive"][i % 3], f"a{i % 4}", i)
        for i in range(40)
    ]
    a = resolve_conflicts(labels_frame(rows), "majority")
    b = resolve_conflicts(labels_frame(list(reversed(rows))), "majority")
    assert resolved_labels(a) == resolved_labels(b)
    assert fingerprint(a) == fingerprint(b)


def test_fingerprint_changes_only_with_the_resolved_labels() -> None:
    base = [row("p1", "negative", "ana", 0), row("p2", "positive", "ana", 1)]
    a = resolve_conflicts(labels_frame(base), "latest")
    same = resolve_conflicts(labels_frame([*base, row("p1", "negative", "bob", 3)]), "latest")
    changed = resolve_conflicts(labels_frame([*base, row("p1", "neutral", "bob", 3)]), "latest")
    assert fingerprint(a) == fingerprint(same) != fingerprint(changed)


def test_store_appends_reads_and_compacts(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels")
    assert store.read().empty and store.append(labels_frame([]), "r0") is None
    for i in range(4):
        store.append(labels_frame([row(f"p{i}", "negative", "ana", i)]), f"r{i}")
    # a re-read after a crash between writing and committing: the same label again
    store.append(labels_frame([row("p3", "negative", "ana", 3)]), "r4")
    assert len(store.parts()) == 5
    assert len(store.read()) == 4
    assert not store.compact("r5", threshold=6)
    assert store.compact("r5", threshold=5)
    assert [p.name for p in store.parts()] == ["part-r5-compacted.parquet"]
    stored = store.read()
    assert sorted(stored["post_id"]) == ["p0", "p1", "p2", "p3"]
    assert str(stored["labeled_at"].dtype) == "datetime64[us, UTC]"
    assert set(stored["labeled_by"]) == {"ana"}
    assert not [p for p in (tmp_path / "labels").iterdir() if p.name.startswith(".")]


@pytest.mark.integration
def test_collect_reads_only_new_labels_each_run(fresh_topics: Settings, tmp_path: Path) -> None:
    settings = with_training(
        fresh_topics, training_consumer_group=f"trainer-{uuid.uuid4().hex[:6]}"
    )
    store = LabelStore(tmp_path / "labels")

    def label(i: int) -> Label:
        return Label(post_id=f"p{i}", text=f"post {i}", label="negative", labeled_by="ana")

    produce(settings, [("labels", None, label(i).to_bytes()) for i in range(5)])
    produce(settings, [("labels", None, b"{not json"), ("labels", None, b'{"post_id": 1}')])
    first = collect_labels(settings, "r1", store)
    assert (len(first.frame), first.messages, first.invalid) == (5, 7, 2)
    assert collect_labels(settings, "r2", store).messages == 0  # offsets were committed
    produce(settings, [("labels", None, label(i).to_bytes()) for i in (5, 6)])
    third = collect_labels(settings, "r3", store)
    assert sorted(third.frame["post_id"]) == ["p5", "p6"]
    stored = store.read()
    assert len(stored) == 7 and set(stored["run_id"]) == {"r1", "r3"}
