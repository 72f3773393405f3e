"""The JSON model card stored next to every model's weights (``model_card.json``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.schemas import SENTIMENT_LABELS

CARD_FILE = "model_card.json"


class ModelCard(BaseModel):
    """What a model is, what it was trained on, how well it does and how to rebuild it."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    version: str
    base_model: str = "unknown"
    labels: list[str] = Field(default_factory=lambda: [str(label) for label in SENTIMENT_LABELS])
    languages: list[str] = Field(default_factory=lambda: ["en"])
    training_data: list[str] | str = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    reproduce: str = ""
    fusion_weight: float | None = Field(
        None, description="Lexicon weight chosen on a held-out split; settings can override."
    )
    multi_pool_weight: float | None = Field(
        None,
        description="English models: weight of the multilingual model's opinion pooled into "
        "the fused output, chosen on this model's held-out split; settings can override.",
    )
    max_len: int | None = None
    decontamination: list[dict[str, Any]] | None = Field(
        None,
        description="Per training corpus: texts removed because they match an evaluation "
        "split (training.decontam.Removed.as_dict()); None on cards older than the check.",
    )

    @classmethod
    def load(cls, model_dir: Path) -> ModelCard | None:
        """The card in ``model_dir``, or None when it has none."""
        path = Path(model_dir) / CARD_FILE
        if not path.is_file():
            return None
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    @classmethod
    def for_checkpoint(cls, model_dir: Path, labels: list[str]) -> ModelCard:
        """A minimal card for a checkpoint that ships none (e.g. a Hub download)."""
        return cls(version=f"hf:{Path(model_dir).name}", base_model=str(model_dir), labels=labels)

    def save(self, model_dir: Path) -> Path:
        path = Path(model_dir) / CARD_FILE
        # Cards from before the decontamination check are written back unchanged.
        skip = {"decontamination"} if self.decontamination is None else None
        payload = self.model_dump(exclude=skip)
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return path
