"""The null model (``opinion bench --model null``): fixed rows, and the loader picking it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.model import BUNDLED_EN, load_scorer
from pipeline.model.card import ModelCard
from pipeline.model.loader import load_model
from pipeline.model.null import (
    NULL_BASE_MODEL,
    NULL_ROW,
    NULL_VERSION,
    NullClassifier,
    is_null_card,
    write_null_model,
)


@pytest.fixture
def null_dir(tmp_path: Path) -> Path:
    return write_null_model(tmp_path / "null", like=ModelCard.load(BUNDLED_EN))


def test_predict_proba_is_the_fixed_row_per_text() -> None:
    probs = NullClassifier().predict_proba(["good", "bad", "meh"])
    assert probs.shape == (3, 3)
    assert np.allclose(probs, [NULL_ROW] * 3)
    assert np.allclose(probs.sum(axis=1), 1.0)


def test_predict_proba_of_no_texts_is_empty() -> None:
    assert NullClassifier().predict_proba([]).shape == (0, 3)


def test_occlusion_attributes_nothing() -> None:
    assert NullClassifier().occlusion("a b c", max_words=2) == [("a", 0.0), ("b", 0.0)]


def test_null_card_keeps_the_weights_of_the_model_it_replaces(null_dir: Path) -> None:
    bundled, card = ModelCard.load(BUNDLED_EN), ModelCard.load(null_dir)
    assert bundled is not None and card is not None
    assert is_null_card(card) and not is_null_card(bundled) and not is_null_card(None)
    assert (card.version, card.base_model) == (NULL_VERSION, NULL_BASE_MODEL)
    assert card.fusion_weight == bundled.fusion_weight
    assert card.multi_pool_weight == bundled.multi_pool_weight


def test_loader_picks_the_null_model(null_dir: Path, settings: Settings) -> None:
    model, card = load_model(null_dir, settings)
    assert isinstance(model, NullClassifier)
    assert card.version == NULL_VERSION


def test_scorer_runs_everything_but_the_model(null_dir: Path, settings: Settings) -> None:
    """Lexicon fusion still applies; without the encoder nothing is pooled."""
    own = settings.model_copy(update={"multilingual": False})
    scorer = load_scorer(own, model_dir=null_dir)
    en = scorer.routes["en"]
    assert isinstance(en.model, NullClassifier) and en.second is None
    assert scorer.version == NULL_VERSION
    good, bad = scorer.predict(["I love this, great!", "awful, terrible service"], ["en", "en"])
    assert (good.label, bad.label) == ("positive", "negative")
    assert good.route == "en" and good.lexicon_score is not None
