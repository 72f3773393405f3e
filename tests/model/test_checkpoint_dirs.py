"""Any local AutoModelForSequenceClassification directory loads, with its labels mapped."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from pipeline.config import Settings
from pipeline.model import BUNDLED_EN, load_scorer
from pipeline.model.transformer import TransformerClassifier


def _tiny_checkpoint(path: Path, id2label: dict[int, str]) -> Path:
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(str(BUNDLED_EN)).save_pretrained(path)
    return path


def test_reordered_three_class_checkpoint(tmp_path: Path) -> None:
    ckpt = _tiny_checkpoint(tmp_path / "m", {0: "positive", 1: "negative", 2: "neutral"})
    model = TransformerClassifier(ckpt)
    assert model.groups == [[1], [2], [0]]
    raw = model.raw_probs(["a", "bb cc"])
    three = model.predict_proba(["a", "bb cc"])
    assert three[:, 0] == pytest.approx(raw[:, 1])
    assert three[:, 2] == pytest.approx(raw[:, 0])


def test_binary_checkpoint_as_zh_model(tmp_path: Path) -> None:
    ckpt = _tiny_checkpoint(tmp_path / "zh", {0: "NEGATIVE", 1: "POSITIVE"})
    settings = Settings(_env_file=None, state_dir=tmp_path, zh_model_dir=ckpt)  # type: ignore[call-arg]
    scorer = load_scorer(settings)
    (pred,) = scorer.predict(["这个产品很好"])
    assert pred.route == "zh" and pred.lang == "zh"
    assert sum(pred.probabilities.values()) == pytest.approx(1, abs=1e-4)
    assert scorer.version_for("zh").startswith("hf:")
    assert scorer.explain("这个 产品 很好", "zh")
