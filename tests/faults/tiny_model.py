"""A tiny random-init BERT checkpoint (2 layers, hidden 64) for fault and fuzz runs.

The fault tests check delivery, not accuracy: a tiny model scores thousands of posts a
second on CPU, so scenarios can push real volumes through real worker processes quickly.
It reuses the bundled tokenizer and loads like any checkpoint (``OPINION_MODEL_DIR``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.model import BUNDLED_EN
from pipeline.model.card import ModelCard

TINY_VERSION = "tiny-fault-test"


def build_tiny_checkpoint(out: Path) -> Path:
    """Write the checkpoint (config, weights, tokenizer, card) to ``out``; returns it."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    out.mkdir(parents=True, exist_ok=True)
    labels = ["negative", "neutral", "positive"]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForSequenceClassification(config).save_pretrained(str(out))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(BUNDLED_EN / name, out / name)
    ModelCard(version=TINY_VERSION, base_model="random-init tiny BERT", labels=labels).save(out)
    return out
