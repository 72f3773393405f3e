"""Which stored labels may train a model, and what the analysts' labels look like.

Whoever can write to the labels topic chooses a label's text, class, analyst and time, so the
store keeps everything (history) and a training set is built only from labels that

* are well-formed (post id, text, analyst, a known class, a time);
* carry the dashboard's signature (``pipeline.label_signing``) under
  ``OPINION_LABEL_SIGNING_KEY``: unsigned ones (forged, or written before signing existed)
  are dropped unless the run accepts them explicitly (``--accept-unsigned``); a wrong
  signature is dropped always;
* are not dated in the future (beyond ``FUTURE_SKEW`` of clock skew): a future time would
  win the ``latest`` conflict policy forever;
* are within their analyst's daily cap (``OPINION_TRAINING_MAX_LABELS_PER_ANALYST_DAY``,
  UTC days of ``labeled_at``; the earliest labels of the day are kept);
* are not on a post whose text is in an evaluation split (``training.decontam``): training
  on it would inflate every figure measured on that split.

Every dropped label is counted by reason for the run report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.config import ConfigError
from pipeline.label_signing import verify
from pipeline.schemas import SENTIMENT_LABELS
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from training.decontam import EvalIndex

FUTURE_SKEW = timedelta(minutes=5)
REASONS = (
    "malformed",
    "unsigned",
    "bad_signature",
    "future_dated",
    "over_daily_cap",
    "eval_overlap",
)


@dataclass
class Vetted:
    """The labels a run may train on, and what was dropped why."""

    frame: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    accept_unsigned: bool = False
    signing_key: bool = False
    unsigned_accepted: int = 0

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def dropped_line(self) -> str:
        """``unsigned 3, future_dated 1`` (reasons with a count only)."""
        return ", ".join(f"{k} {v}" for k, v in self.dropped.items() if v) or "none"

    def summary(self) -> dict[str, Any]:
        return {
            "dropped": dict(self.dropped),
            "accept_unsigned": self.accept_unsigned,
            "signing_key": self.signing_key,
            "unsigned_accepted": self.unsigned_accepted,
        }


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _malformed(row: Any) -> bool:
    return not (
        _text(row.post_id)
        and _text(row.text)
        and _text(row.labeled_by)
        and row.label in SENTIMENT_LABELS
        and not pd.isna(row.labeled_at)
    )


def _signed(row: Any, key: Any) -> bool:
    return verify(
        row.signature,
        key,
        post_id=row.post_id,
        text=row.text,
        label=row.label,
        lang=None if pd.isna(row.lang) else row.lang,
        labeled_by=row.labeled_by,
        labeled_at=row.labeled_at.to_pydatetime(),
    )


def vet_labels(
    frame: pd.DataFrame,
    settings: TrainingSettings,
    *,
    accept_unsigned: bool = False,
    now: datetime | None = None,
    eval_index: EvalIndex | None = None,
) -> Vetted:
    """The rows of ``frame`` (a label-store frame) that may train, and the dropped counts.

    Raises ``ConfigError`` when there are labels but no signing key and unsigned labels
    were not accepted explicitly (nothing could be verified). ``eval_index``: the evaluation
    texts to keep out (default: the committed ``training.decontam`` index)."""
    key = settings.resolved_label_signing_key()
    out = Vetted(frame, accept_unsigned=accept_unsigned, signing_key=key is not None)
    if frame.empty:
        return out
    if key is None and not accept_unsigned:
        raise ConfigError(
            f"{len(frame)} stored labels but OPINION_LABEL_SIGNING_KEY is not set, so none can "
            "be verified: set it to the dashboard's key, or run `opinion train "
            "--accept-unsigned` to train on unverified labels"
        )
    latest = (now or datetime.now(UTC)) + FUTURE_SKEW
    keep: list[bool] = []
    for row in frame.itertuples(index=False):
        reason = None
        if _malformed(row):
            reason = "malformed"
        elif key is None:
            out.unsigned_accepted += 1
        elif not _text(row.signature):
            if accept_unsigned:
                out.unsigned_accepted += 1
            else:
                reason = "unsigned"
        elif not _signed(row, key):
            reason = "bad_signature"
        if reason is None and row.labeled_at.to_pydatetime() > latest:
            reason = "future_dated"
        if reason is None:
            if eval_index is None:
                from training.decontam import EvalIndex

                eval_index = EvalIndex.load()
            if eval_index.matches(row.text):
                reason = "eval_overlap"
        if reason:
            out.dropped[reason] += 1
        keep.append(reason is None)
    kept = frame[keep]
    cap = settings.training_max_labels_per_analyst_day
    if cap and not kept.empty:
        ordered = kept.sort_values(["labeled_at", "post_id"], kind="stable")
        day = ordered["labeled_at"].dt.floor("D")
        rank = ordered.groupby([ordered["labeled_by"], day]).cumcount()
        out.dropped["over_daily_cap"] = int((rank >= cap).sum())
        kept = ordered[rank < cap]
    out.frame = kept.reset_index(drop=True)
    return out


def analyst_stats(frame: pd.DataFrame) -> dict[str, Any]:
    """Labels per analyst, and agreement on the posts several analysts labelled (each
    analyst's latest label on a post counts once)."""
    if frame.empty:
        return {"by_analyst": {}, "agreement": {"posts": 0, "agreeing": 0, "share": None}}
    by_analyst = {str(k): int(v) for k, v in frame["labeled_by"].value_counts().items()}
    latest = (
        frame.sort_values("labeled_at", kind="stable")
        .groupby(["post_id", "labeled_by"], sort=False)
        .tail(1)
    )
    per_post = latest.groupby("post_id").agg(
        analysts=("labeled_by", "nunique"), classes=("label", "nunique")
    )
    shared = per_post[per_post["analysts"] >= 2]
    agreeing = int((shared["classes"] == 1).sum())
    return {
        "by_analyst": dict(sorted(by_analyst.items())),
        "agreement": {
            "posts": len(shared),
            "agreeing": agreeing,
            "share": round(agreeing / len(shared), 4) if len(shared) else None,
        },
    }
