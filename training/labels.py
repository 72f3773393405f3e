"""Analysts' labels: collected from Kafka into a durable Parquet store, deduplicated, resolved.

The store is append-only: every run that reads new labels writes one Parquet file
(``<data dir>/labels/part-<run id>.parquet``, written to a temp file, fsynced, renamed) and
only then commits the consumer group's offsets, so a crash in between re-reads the same
messages next time (at-least-once) and the exact duplicates are dropped on read. Rows keep
who labelled what and when (``labeled_by``, ``labeled_at``), the dashboard's ``signature``
(verified when training sets are built, ``training.vetting``) plus where the message came from
(``kafka_partition``, ``kafka_offset``) and when the trainer collected it (``collected_at``).
When there are ``compact_after`` files they are merged into one (duplicates removed; the old
files are deleted only after the merged one is in place).

Conflicts (several labels for one post) are resolved when a training set is built, not in
the store, so the policy can change without losing history:

* ``latest``: the label with the latest ``labeled_at`` wins;
* ``majority``: each analyst's latest label is one vote; the most votes win, ties go to the
  label voted most recently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import ValidationError

from pipeline.schemas import Label
from training.settings import TrainingSettings

log = logging.getLogger(__name__)

ConflictPolicy = Literal["latest", "majority"]

COLUMNS = [
    "post_id",
    "text",
    "label",
    "lang",
    "labeled_by",
    "labeled_at",
    "model_label",
    "model_version",
    "signature",
    "collected_at",
    "run_id",
    "kafka_partition",
    "kafka_offset",
]
# A label is the same label when these match (a Kafka re-delivery, or a re-read after a crash).
IDENTITY = ["post_id", "labeled_by", "labeled_at", "label"]


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    frame["labeled_at"] = pd.Series(dtype="datetime64[us, UTC]")
    frame["collected_at"] = pd.Series(dtype="datetime64[us, UTC]")
    frame["kafka_partition"] = pd.Series(dtype="Int64")
    frame["kafka_offset"] = pd.Series(dtype="Int64")
    return frame


def labels_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """A store-shaped frame from dicts with (a subset of) ``COLUMNS``."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return empty_frame()
    for column in COLUMNS:
        if column not in frame:
            frame[column] = None
    frame = frame[COLUMNS].copy()
    frame["labeled_at"] = pd.to_datetime(frame["labeled_at"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    frame["collected_at"] = pd.to_datetime(frame["collected_at"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    frame["kafka_partition"] = frame["kafka_partition"].astype("Int64")
    frame["kafka_offset"] = frame["kafka_offset"].astype("Int64")
    for column in ("post_id", "text", "label", "lang", "labeled_by", "model_label"):
        frame[column] = frame[column].astype("object")
    frame["model_version"] = frame["model_version"].astype("object")
    frame["signature"] = frame["signature"].astype("object")
    frame["run_id"] = frame["run_id"].astype("object")
    return frame


# The same Kafka message read twice (its labeled_at may differ if the producer left it out
# and each parse filled in "now").
REREAD = ["post_id", "labeled_by", "label", "kafka_partition", "kafka_offset"]


def deduplicate(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop exact duplicates of a label (same post, analyst, time and label, or the same
    message read twice); keep the first collected."""
    if frame.empty:
        return frame
    ordered = frame.sort_values(["collected_at", "kafka_partition", "kafka_offset"], kind="stable")
    ordered = ordered.drop_duplicates(subset=IDENTITY, keep="first")
    located = ordered["kafka_offset"].notna()
    again = located & ordered.duplicated(subset=REREAD, keep="first")
    return ordered[~again].reset_index(drop=True)


def resolve_conflicts(frame: pd.DataFrame, policy: ConflictPolicy = "latest") -> pd.DataFrame:
    """One row per ``post_id`` (its text, the resolved label, who/when of the winning label,
    ``n_labels`` and ``n_analysts``), sorted by ``post_id``."""
    if policy not in ("latest", "majority"):
        raise ValueError(f"unknown conflict policy {policy!r}")
    columns = ["post_id", "text", "label", "lang", "labeled_by", "labeled_at"]
    if frame.empty:
        return pd.DataFrame(columns=[*columns, "n_labels", "n_analysts"])
    frame = deduplicate(frame)
    # Deterministic order: time, then analyst, then label (for exact-time ties).
    frame = frame.sort_values(["post_id", "labeled_at", "labeled_by", "label"], kind="stable")
    counts = frame.groupby("post_id").agg(
        n_labels=("label", "size"), n_analysts=("labeled_by", "nunique")
    )
    if policy == "latest":
        winners = frame.groupby("post_id", sort=True).tail(1).set_index("post_id")
    else:
        # One vote per analyst (their latest), then per post: most votes, then the most
        # recent vote, then the label name (for exact ties); the winner's row is the latest
        # vote for the winning label.
        votes = frame.groupby(["post_id", "labeled_by"], sort=False).tail(1)
        tally = (
            votes.groupby(["post_id", "label"])
            .agg(n=("label", "size"), last=("labeled_at", "max"))
            .reset_index()
            .sort_values(["post_id", "n", "last", "label"], ascending=[True, False, False, True])
        )
        chosen = tally.groupby("post_id", sort=False).head(1)[["post_id", "label"]]
        winners = (
            votes.merge(chosen, on=["post_id", "label"])
            .sort_values(["post_id", "labeled_at", "labeled_by"], kind="stable")
            .groupby("post_id", sort=True)
            .tail(1)
            .set_index("post_id")
        )
    # The text is the post's latest known text (it does not change between labels).
    texts = frame.groupby("post_id").tail(1).set_index("post_id")["text"]
    out = winners[["label", "lang", "labeled_by", "labeled_at"]].copy()
    out["text"] = texts
    out = out.join(counts).reset_index()
    return out[[*columns, "n_labels", "n_analysts"]].sort_values("post_id").reset_index(drop=True)


def fingerprint(resolved: pd.DataFrame) -> str:
    """A digest of the resolved (post, label) pairs: equal digests = nothing new to learn."""
    digest = hashlib.sha256()
    for post_id, label in sorted(zip(resolved["post_id"], resolved["label"], strict=True)):
        digest.update(f"{post_id}\t{label}\n".encode())
    return digest.hexdigest()


class LabelStore:
    """Append-only Parquet partitions under ``<root>``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def parts(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("part-*.parquet") if p.is_file())

    def append(self, frame: pd.DataFrame, run_id: str) -> Path | None:
        """Write ``frame`` as a new partition (atomically); None when it is empty."""
        if frame.empty:
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._free_name(f"part-{run_id}")
        self._write(frame, path)
        return path

    def read(self) -> pd.DataFrame:
        """Every stored label, exact duplicates removed."""
        frames = [pd.read_parquet(p) for p in self.parts()]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return empty_frame()
        return deduplicate(labels_frame(pd.concat(frames, ignore_index=True).to_dict("records")))

    def compact(self, run_id: str, threshold: int) -> bool:
        """Merge the partitions into one when there are ``threshold`` or more."""
        parts = self.parts()
        if len(parts) < threshold:
            return False
        merged = self.read()
        path = self._free_name(f"part-{run_id}-compacted")
        self._write(merged, path)
        for part in parts:
            part.unlink(missing_ok=True)
        log.info("compacted %d label files into %s (%d labels)", len(parts), path.name, len(merged))
        return True

    def _free_name(self, stem: str) -> Path:
        path = self.root / f"{stem}.parquet"
        n = 1
        while path.exists():
            path = self.root / f"{stem}-{n}.parquet"
            n += 1
        return path

    @staticmethod
    def _write(frame: pd.DataFrame, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        frame.to_parquet(tmp, index=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass
class Collected:
    """What one collection read from Kafka."""

    frame: pd.DataFrame
    messages: int
    invalid: int


def collect_labels(settings: TrainingSettings, run_id: str, store: LabelStore) -> Collected:
    """Read the labels that arrived since the last run (consumer group
    ``training_consumer_group``), append them to ``store``, then commit the offsets.

    Partitions are assigned explicitly (one trainer at a time holds the lock), which avoids
    the group join delay; offsets are still the group's committed ones. Reading stops when
    every partition is at its high-water mark (as reported by fetch responses) or after
    ``training_collect_timeout_s``.
    """
    from kafka import TopicPartition

    from pipeline.kafka_io import consumer

    topic = settings.topic("labels")
    client = consumer(settings, group_id=settings.training_consumer_group)
    try:
        partitions = client.partitions_for_topic(topic)
        if not partitions:
            log.warning("labels topic %s does not exist yet: no labels to collect", topic)
            return Collected(empty_frame(), 0, 0)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        client.assign(assigned)
        now = datetime.now(UTC)
        rows: list[dict] = []
        messages = invalid = 0
        deadline = time.monotonic() + settings.training_collect_timeout_s
        while True:
            batch = client.poll(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for record in records:
                    messages += 1
                    try:
                        label = Label.from_bytes(record.value)
                    except (ValidationError, ValueError, TypeError):
                        invalid += 1
                        continue
                    rows.append(
                        {
                            **label.model_dump(),
                            "collected_at": now,
                            "run_id": run_id,
                            "kafka_partition": record.partition,
                            "kafka_offset": record.offset,
                        }
                    )
            caught_up = all(
                client.highwater(tp) is not None and client.position(tp) >= client.highwater(tp)
                for tp in assigned
            )
            if caught_up and not batch:
                break
            if time.monotonic() > deadline:
                log.warning(
                    "stopped reading labels after %.0fs (OPINION_TRAINING_COLLECT_TIMEOUT_S); "
                    "the rest is read next run",
                    settings.training_collect_timeout_s,
                )
                break
        frame = labels_frame(rows)
        if invalid:
            log.warning("skipped %d malformed label messages", invalid)
        path = store.append(frame, run_id)
        if path is not None:
            log.info("stored %d new labels in %s", len(frame), path)
        if messages:
            client.commit()
        return Collected(frame, messages, invalid)
    finally:
        client.close()
