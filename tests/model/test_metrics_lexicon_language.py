from __future__ import annotations

import numpy as np
import pytest

from pipeline.model.fusion import choose_fusion_weight, fuse
from pipeline.model.labels import binary_to_three, label_groups, to_three
from pipeline.model.lexicon import compound_to_probs, lexicon_for
from pipeline.model.metrics import compute_metrics
from pipeline.text.language import detect_language


def test_metrics_known_values() -> None:
    m = compute_metrics([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], ["n", "u", "p"])
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.macro_recall == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert m.confusion == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m.per_class["u"].precision == pytest.approx(0.5)
    assert "macro_f1" in m.format()


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The service was terrible and the food was cold", "en"),
        ("这家餐厅的菜很好吃", "zh"),
        ("El servicio fue terrible y la comida estaba fría", "es"),
        ("こんにちは、元気ですか", "ja"),
        ("", "und"),
        ("123 !!!", "und"),
        ("@user lol", "und"),
        ("thanks guys", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_lexicons() -> None:
    vader = lexicon_for("en")
    for text in ("not good, really bad", "I LOVE it!!! 😍", "The food was okay but service sucked"):
        assert vader.analyze(text).compound == pytest.approx(
            vader._analyzer.polarity_scores(text)["compound"]
        )
    en = vader.analyze("Great food, terrible service")
    assert {w for w, _ in en.terms} == {"Great", "terrible"}
    zh = lexicon_for("zh")
    assert zh.analyze("非常满意，推荐").compound > 0.5
    assert zh.analyze("不推荐，很失望").compound < -0.5
    assert zh.analyze("不好").compound < 0 < zh.analyze("很好").compound
    assert lexicon_for("fr") is None


def test_label_mapping_and_neutral_band() -> None:
    assert label_groups(["NEGATIVE", "neutral", "Positive"]) == [[0], [1], [2]]
    assert label_groups(["positive", "negative"]) == [[1], [], [0]]
    assert label_groups(["1 star", "2", "3", "4", "5 stars"]) == [[0, 1], [2], [3, 4]]
    three = binary_to_three(np.array([0.05, 0.5, 0.95]))
    assert three.argmax(1).tolist() == [0, 1, 2]
    assert np.allclose(three.sum(1), 1)
    probs = to_three(np.array([[0.2, 0.8]]), label_groups(["positive", "negative"]))
    assert probs.argmax() == 0


def test_fusion() -> None:
    p = np.array([[0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    assert np.allclose(fuse(p, [None, 0.0], 0.5), p)
    fused = fuse(p, [-0.9, None], 0.5)
    assert fused[0].argmax() == 0 and np.allclose(fused.sum(1), 1)
    assert sum(compound_to_probs(0.3)) == pytest.approx(1)
    w, table = choose_fusion_weight(p, [-0.9, 0.9], [0, 2])
    assert 0 <= w <= 0.6 and len(table) == 13
