"""The Chinese route: n-gram by default, the built transformer selectable, fallback when missing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.model import BUNDLED_ZH, loader
from pipeline.model.card import ModelCard

NGRAM_VERSION = json.loads((BUNDLED_ZH / "model_card.json").read_text())["version"]


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path, multilingual=False, **kw)  # type: ignore[call-arg]


def test_ngram_is_the_default(tmp_path: Path) -> None:
    model, card = loader.load_zh(_settings(tmp_path))
    assert card.version == NGRAM_VERSION
    assert type(model).__name__ == "CharNgramClassifier"


def test_missing_transformer_falls_back_to_ngram(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loader._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.model.loader"):
        _, card = loader.load_zh(_settings(tmp_path, zh_model="transformer"))
    assert card.version == NGRAM_VERSION
    assert "training.build_zh_transformer" in caplog.text


def test_built_transformer_is_selectable_and_reports_its_version(tmp_path: Path) -> None:
    from pipeline.model import load_scorer
    from tests.faults.tiny_model import build_tiny_checkpoint

    settings = _settings(tmp_path, zh_model="transformer")
    build_tiny_checkpoint(settings.zh_transformer_dir)
    card = ModelCard.load(settings.zh_transformer_dir)
    scorer = load_scorer(settings)
    assert card is not None and scorer.version_for("zh") == card.version != NGRAM_VERSION
    preds = scorer.predict(["这家餐厅的菜太难吃了，服务也很差", "质量很好"], ["zh", "zh"])
    assert [p.route for p in preds] == ["zh", "zh"]


def test_news_sentences_are_untagged() -> None:
    from training.build_zh_transformer import news_sentences

    sents = news_sentences()[:50]
    assert sents and all("/" not in s and 8 <= len(s) <= 120 for s in sents)


def test_dedupe_drops_repeats_and_label_clashes() -> None:
    from training.build_zh_transformer import dedupe

    rows = [("很好！", 2), ("很好", 2), ("一般般", 0), ("一般般。", 2), ("差", 0)]
    assert dedupe(rows) == [("很好！", 2), ("差", 0)]
