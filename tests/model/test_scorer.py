from __future__ import annotations

import threading

import pytest

from pipeline.model import (
    BUNDLED_EN,
    BUNDLED_MULTI,
    SentimentScorer,
    load_scorer,
    resolve_model_dir,
)
from pipeline.model.card import ModelCard
from pipeline.model.registry import ModelRegistry
from pipeline.model.types import Prediction

TEXTS = [
    "This is the worst airline ever. Lost my bag and the staff were rude.",
    "I absolutely love this phone, best purchase of the year!",
    "Apple will announce the results on Thursday.",
    "这家酒店太差了，房间很脏，服务态度恶劣，再也不来了。",
    "质量很好，物流很快，非常满意！",
]


def test_loads_bundled_directory_with_card(scorer: SentimentScorer) -> None:
    assert isinstance(scorer, SentimentScorer)
    card = ModelCard.load(BUNDLED_EN)
    assert card is not None and card.labels == ["negative", "neutral", "positive"]
    assert card.reproduce.startswith("python -m training.build_default")
    assert scorer.version == card.version


def test_prediction_fields_and_label_order(scorer: SentimentScorer) -> None:
    preds = scorer.predict(TEXTS)
    assert len(preds) == len(TEXTS) and all(isinstance(p, Prediction) for p in preds)
    for p in preds:
        assert list(p.probabilities) == ["negative", "neutral", "positive"]
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert p.label == max(p.probabilities, key=p.probabilities.__getitem__)
        assert p.negativity == pytest.approx(p.probabilities["negative"])
    assert [p.label for p in preds] == ["negative", "positive", "neutral", "negative", "positive"]


def test_batch_and_single_agree(scorer: SentimentScorer) -> None:
    batch = scorer.predict(TEXTS)
    for text, b in zip(TEXTS, batch, strict=True):
        (single,) = scorer.predict([text])
        assert single.label == b.label
        for k, v in b.probabilities.items():
            assert single.probabilities[k] == pytest.approx(v, abs=1e-4)


def test_explanation_terms_for_clearly_negative(scorer: SentimentScorer) -> None:
    (p,) = scorer.predict(["I hate this terrible, awful service."], ["en"])
    assert p.label == "negative"
    assert {"hate", "terrible", "awful"} & {t.lower() for t in p.explanation}
    assert p.lexicon_score is not None and p.lexicon_score < -0.5


def test_explain_attributions(scorer: SentimentScorer) -> None:
    attributions = scorer.explain("This movie was awful", "en")
    assert [w for w, _ in attributions] == ["This", "movie", "was", "awful"]
    assert min(attributions, key=lambda a: a[1])[0] == "awful"
    assert dict(attributions)["awful"] < 0


def test_chinese_routing(scorer: SentimentScorer) -> None:
    preds = scorer.predict(TEXTS[3:])
    assert [p.lang for p in preds] == ["zh", "zh"]
    assert [p.route for p in preds] == ["zh", "zh"]
    assert preds[0].explanation  # n-gram lexicon terms such as 太差
    assert scorer.explain(TEXTS[3], "zh")


def test_other_languages_go_to_the_multilingual_model_and_say_so(scorer: SentimentScorer) -> None:
    (p,) = scorer.predict(["Este servicio es horrible y muy lento"], ["es"])
    assert p.route == "multi" and p.lang == "es" and p.lexicon_score is None
    assert p.label == "negative"
    assert scorer.version_for("multi") == ModelCard.load(BUNDLED_MULTI).version  # type: ignore[union-attr]
    (u,) = scorer.predict(["lol"])
    assert u.lang == "und" and u.route == "en" and u.lexicon_score is not None


def test_explicit_lang_and_empty_text(scorer: SentimentScorer) -> None:
    preds = scorer.predict(["", "fine"], ["en", None])
    assert len(preds) == 2 and preds[0].lang == "en"


def test_thread_safe(scorer: SentimentScorer) -> None:
    expected = [p.label for p in scorer.predict(TEXTS)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            assert [p.label for p in scorer.predict(TEXTS)] == expected
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_resolution_order(settings, tmp_path) -> None:
    assert resolve_model_dir(settings) == BUNDLED_EN
    registry = ModelRegistry(settings.registry_dir)
    registry.publish(BUNDLED_EN, "v1")
    registry.set_current("v1")
    assert resolve_model_dir(settings) == registry.path("v1")
    assert resolve_model_dir(settings, tmp_path) == tmp_path
    scorer = load_scorer(settings)
    assert scorer.version == "v1"  # registry folder name, what workers compare with `current`
    assert scorer.version_for("zh").startswith("zh-")
