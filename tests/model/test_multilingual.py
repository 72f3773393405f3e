"""The multilingual route: sentence encoder + head, pooling on English, degraded modes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.model import BUNDLED_EN, BUNDLED_MULTI, SentimentScorer, load_scorer
from pipeline.model.card import ModelCard
from pipeline.model.encoder_head import HEAD_ARTEFACT, EncoderHeadClassifier
from pipeline.model.evaluate import method_probs
from pipeline.model.sentence_encoder import ENCODER_DIM, load_encoder
from training.build_multilingual import fit_softmax_regression, load_umsab

FOREIGN = {
    "es": ("Este servicio es horrible, nunca más vuelvo.", "¡Me encanta, es maravilloso!"),
    "de": ("Das ist eine Katastrophe, ich bin total enttäuscht.", "Wunderbar, ich liebe es!"),
    "fr": ("C'est nul, je suis vraiment déçu et en colère.", "J'adore, c'est génial !"),
    "ar": ("هذه الخدمة سيئة جدا وأنا غاضب", "أحب هذا المكان كثيرا، رائع جدا"),
}


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path, **kw)  # type: ignore[call-arg]


def test_encoder_embeds_in_order_and_batches_agree(encoder_file: Path) -> None:
    encoder = load_encoder(encoder_file)
    texts = [t for pair in FOREIGN.values() for t in pair] + ["", "  "]
    batch = encoder.encode(texts)
    assert batch.shape == (len(texts), ENCODER_DIM) and batch.dtype == np.float32
    for i in (0, 3, len(texts) - 1):
        np.testing.assert_allclose(encoder.encode([texts[i]])[0], batch[i], atol=1e-5)
    # a translation is closer to its source than to a sentence of opposite sentiment
    en = encoder.encode(["This service is terrible, I'm never coming back."])[0]
    assert float(en @ batch[0]) > float(en @ batch[1])


def test_foreign_languages_are_scored_by_the_multilingual_route(
    scorer: SentimentScorer,
) -> None:
    texts = [t for pair in FOREIGN.values() for t in pair]
    langs = [lang for lang, pair in FOREIGN.items() for _ in pair]
    preds = scorer.predict(texts, langs)
    assert [p.route for p in preds] == ["multi"] * len(texts)
    assert [p.label for p in preds] == ["negative", "positive"] * len(FOREIGN)
    for p in preds:
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    # detected language routes the same way
    (auto,) = scorer.predict([FOREIGN["de"][0]])
    assert auto.lang == "de" and auto.route == "multi" and auto.label == "negative"
    # batch and single agree on this route too
    (single,) = scorer.predict([texts[2]], [langs[2]])
    assert single.probabilities == pytest.approx(preds[2].probabilities, abs=1e-4)


def test_explain_on_the_multilingual_route(scorer: SentimentScorer) -> None:
    attributions = dict(scorer.explain("El servicio fue horrible", "es"))
    assert set(attributions) == {"El", "servicio", "fue", "horrible"}
    assert min(attributions, key=attributions.__getitem__) == "horrible"
    assert attributions["horrible"] < 0


def test_english_route_pools_the_multilingual_opinion_at_the_card_weight(
    tmp_path: Path, scorer: SentimentScorer
) -> None:
    card = ModelCard.load(BUNDLED_EN)
    weight = card.multi_pool_weight  # type: ignore[union-attr]
    assert 0 < weight < 1
    unpooled = load_scorer(_settings(tmp_path, en_pool_weight=0.0), model_dir=BUNDLED_EN)
    texts = ["I can't wait for the weekend", "the meeting is at noon", "worst update ever"]
    head = method_probs(scorer, texts, ["en"] * 3, "multi")
    for text, h, pooled, base in zip(
        texts,
        head,
        scorer.predict(texts, ["en"] * 3),
        unpooled.predict(texts, ["en"] * 3),
        strict=True,
    ):
        assert pooled.route == base.route == "en"
        expected = (1 - weight) * np.array(list(base.probabilities.values())) + weight * h
        np.testing.assert_allclose(list(pooled.probabilities.values()), expected, atol=1e-4)
        assert pooled.explanation == base.explanation, text  # still the lexicon's terms


def test_multilingual_off_or_encoder_missing_falls_back_to_english(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    off = load_scorer(_settings(tmp_path, multilingual=False), model_dir=BUNDLED_EN)
    (p,) = off.predict([FOREIGN["es"][0]], ["es"])
    assert p.route == "en-fallback" and off.multilingual is None
    with caplog.at_level(logging.WARNING):
        missing = load_scorer(_settings(tmp_path, encoder_dir=tmp_path / "none"), BUNDLED_EN)
    (q,) = missing.predict([FOREIGN["es"][0]], ["es"])
    assert q.route == "en-fallback"
    assert "opinion fetch-encoder" in caplog.text
    with pytest.raises(ValueError, match="fetch-encoder"):
        method_probs(missing, ["hola"], ["es"], "multi")


def test_a_head_for_another_encoder_is_refused(tmp_path: Path, encoder_file: Path) -> None:
    data = json.loads((BUNDLED_MULTI / HEAD_ARTEFACT).read_text())
    data["encoder"] = "some-other-encoder"
    (tmp_path / HEAD_ARTEFACT).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="some-other-encoder"):
        EncoderHeadClassifier(tmp_path, load_encoder(encoder_file))


def test_softmax_regression_learns_balanced_classes() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)) * 3
    y = np.array([0] * 300 + [1] * 60 + [2] * 140)  # imbalanced on purpose
    x = centers[y] + rng.normal(size=(len(y), 8))
    w, b = fit_softmax_regression(x, y, c=1.0)
    pred = (x @ w.T + b).argmax(1)
    recalls = [float((pred[y == k] == k).mean()) for k in range(3)]
    assert min(recalls) > 0.9, recalls
    w_strong, _ = fit_softmax_regression(x, y, c=0.001)
    assert np.abs(w_strong).sum() < np.abs(w).sum()  # C is the inverse penalty


def test_umsab_loader_reads_every_language_and_says_what_is_missing(tmp_path: Path) -> None:
    from training.build_multilingual import LANGUAGES

    for i, lang in enumerate(LANGUAGES):
        folder = tmp_path / lang
        folder.mkdir()
        (folder / "train_text.txt").write_text(f"text {i} a @someone\ntext {i} b\n")
        (folder / "train_labels.txt").write_text("0\n2\n")
    sets = load_umsab(tmp_path, "train")
    assert list(sets) == list(LANGUAGES)
    assert sets["arabic"] == (["text 0 a @user", "text 0 b"], [0, 2])
    with pytest.raises(FileNotFoundError, match="--data"):
        load_umsab(tmp_path, "val")
