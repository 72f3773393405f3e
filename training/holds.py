"""Rollbacks that hold: after ``opinion model rollback``, ``opinion train`` does not promote
automatically again until the labels have really changed or an admin re-enables it.

Every version ``opinion train`` publishes carries the labels it was trained on
(``labels_snapshot.json``: resolved post id -> class). A rollback records, per route, the
rejected version and that snapshot in ``<registry>/holds.json``. A later run compares its
resolved labels with the snapshot: while fewer than ``OPINION_TRAINING_RELEARN_AFTER_LABELS``
labelled posts changed (added, removed or relabelled), a candidate that passes the gate is
not promoted (the report says so); ``opinion model enable-auto-promote`` lifts the hold, and
the next promotion clears it. A rolled-back version without a snapshot (not made by
``opinion train``) is held until an admin re-enables it.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from pipeline.model.registry import ModelRegistry
from training.files import write_atomic

ROUTE = "en"  # the route `opinion train` re-trains (its registry versions)
HOLDS_FILE = "holds.json"
SNAPSHOT_FILE = "labels_snapshot.json"

State = Literal["none", "held", "released-labels", "released-admin"]


def label_map(resolved: pd.DataFrame) -> dict[str, str]:
    """Resolved labels as post id -> class."""
    return {str(p): str(lb) for p, lb in zip(resolved["post_id"], resolved["label"], strict=True)}


def write_snapshot(package: Path, resolved: pd.DataFrame, fingerprint: str) -> None:
    """Record in a candidate's folder the labels it was trained on (before it is published)."""
    payload = {"fingerprint": fingerprint, "labels": label_map(resolved)}
    (Path(package) / SNAPSHOT_FILE).write_text(json.dumps(payload, sort_keys=True) + "\n")


def read_snapshot(version_dir: Path) -> dict[str, Any] | None:
    try:
        payload = json.loads((Path(version_dir) / SNAPSHOT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("labels"), dict):
        return payload
    return None


def changes(snapshot: dict[str, str], current: dict[str, str]) -> int:
    """Labelled posts added, removed or relabelled between two label maps."""
    return sum(snapshot.get(p) != current.get(p) for p in set(snapshot) | set(current))


def _path(registry: ModelRegistry) -> Path:
    return registry.root / HOLDS_FILE


def load(registry: ModelRegistry) -> dict[str, dict[str, Any]]:
    """Holds by route (empty when none was ever recorded)."""
    try:
        data = json.loads(_path(registry).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(registry: ModelRegistry, holds: dict[str, dict[str, Any]]) -> None:
    write_atomic(_path(registry), json.dumps(holds, indent=2, sort_keys=True) + "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_rollback(registry: ModelRegistry, rejected: str, route: str = ROUTE) -> dict:
    """Hold automatic promotion of ``route`` after ``rejected`` was rolled back."""
    snapshot = read_snapshot(registry.path(rejected))
    hold = {
        "route": route,
        "rejected_version": rejected,
        "rolled_back_at": _now(),
        "labels_fingerprint": snapshot.get("fingerprint") if snapshot else None,
        "labels": snapshot["labels"] if snapshot else None,
        "enabled_at": None,
        "enabled_by": None,
    }
    holds = load(registry)
    holds[route] = hold
    _save(registry, holds)
    return hold


def enable(registry: ModelRegistry, route: str = ROUTE, by: str | None = None) -> dict | None:
    """An admin re-enables automatic promotion of ``route``; the hold (None if there was
    none) is kept, marked, so the next run's report can say who lifted it."""
    holds = load(registry)
    hold = holds.get(route)
    if hold is None or hold.get("enabled_at"):
        return hold
    hold.update(enabled_at=_now(), enabled_by=by or getpass.getuser())
    _save(registry, holds)
    return hold


def clear(registry: ModelRegistry, route: str = ROUTE) -> None:
    """A new version was promoted: the hold has done its job."""
    holds = load(registry)
    if holds.pop(route, None) is not None:
        _save(registry, holds)


@dataclass
class HoldCheck:
    """Whether a run may promote automatically, and the line the report gives."""

    state: State
    line: str
    rejected_version: str | None = None
    changed: int | None = None
    needed: int | None = None

    @property
    def held(self) -> bool:
        return self.state == "held"

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "held": self.held,
            "line": self.line,
            "rejected_version": self.rejected_version,
            "changed_labels": self.changed,
            "needed": self.needed,
        }


def check(
    registry: ModelRegistry, resolved: pd.DataFrame, needed: int, route: str = ROUTE
) -> HoldCheck:
    """The hold on ``route`` given this run's resolved labels."""
    hold = load(registry).get(route)
    if not hold:
        return HoldCheck("none", "no rollback on record: automatic promotion is on")
    version, at = hold.get("rejected_version"), hold.get("rolled_back_at")
    if hold.get("enabled_at"):
        return HoldCheck(
            "released-admin",
            f"auto-promotion re-enabled by {hold.get('enabled_by')} at {hold['enabled_at']} "
            f"after rollback of {version}",
            version,
        )
    snapshot = hold.get("labels")
    if not isinstance(snapshot, dict):
        return HoldCheck(
            "held",
            f"auto-promotion held after rollback of {version} ({at}): its training labels are "
            "unknown, so only `opinion model enable-auto-promote` re-enables it",
            version,
        )
    changed = changes(snapshot, label_map(resolved))
    if changed >= needed:
        return HoldCheck(
            "released-labels",
            f"auto-promotion re-enabled: {changed} labelled posts changed since the labels of "
            f"{version} (rolled back {at}; {needed} needed)",
            version,
            changed,
            needed,
        )
    return HoldCheck(
        "held",
        f"auto-promotion held after rollback of {version} ({at}): {changed} of {needed} "
        "labelled posts changed since its labels (OPINION_TRAINING_RELEARN_AFTER_LABELS); "
        "`opinion model enable-auto-promote` re-enables it",
        version,
        changed,
        needed,
    )
