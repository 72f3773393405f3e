"""The shared fine-tuning loop runs end to end on a tiny checkpoint (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from pipeline.model import BUNDLED_EN
from pipeline.model.transformer import TransformerClassifier
from training.finetune import FinetuneConfig, finetune


def test_finetune_saves_best_checkpoint(tmp_path: Path) -> None:
    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path / "base")
    AutoTokenizer.from_pretrained(str(BUNDLED_EN)).save_pretrained(tmp_path / "base")
    texts, labels = ["great", "awful", "tuesday"] * 8, [2, 0, 1] * 8
    result = finetune(
        tmp_path / "base",
        texts,
        labels,
        texts[:6],
        labels[:6],
        tmp_path / "out",
        FinetuneConfig(max_steps=4, eval_every=2, batch_size=4),
    )
    assert result.steps == 4 and result.best_step in (2, 4)
    log = json.loads((tmp_path / "out" / "training_log.json").read_text())
    assert len(log["history"]) == 2
    model = TransformerClassifier(tmp_path / "out")
    assert model.predict_proba(["great"]).shape == (1, 3)
