"""Traditional posts score like their Simplified versions on the zh route."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.model import BUNDLED_ZH
from pipeline.model.lexicon import lexicon_for
from pipeline.model.ngram import CharNgramClassifier
from pipeline.model.preprocess import route_texts

PAIRS = [
    ("這間飯店的服務態度很好，房間也很乾淨", "这间饭店的服务态度很好，房间也很干净"),
    ("網購的手機殼品質太差，客服還不理人", "网购的手机壳品质太差，客服还不理人"),
    ("颱風過後里長馬上帶人清理道路，給他按讚", "台风过后里长马上带人清理道路，给他按赞"),
    ("醫院急診等了五個小時，真的很失望", "医院急诊等了五个小时，真的很失望"),
]


@pytest.fixture(scope="module")
def ngram() -> CharNgramClassifier:
    return CharNgramClassifier(BUNDLED_ZH)


def test_pairs_score_alike_on_the_ngram_model(ngram: CharNgramClassifier) -> None:
    trad = ngram.p_positive(route_texts("zh", [t for t, _ in PAIRS]))
    simp = ngram.p_positive(route_texts("zh", [s for _, s in PAIRS]))
    assert np.abs(trad - simp).max() < 0.02
    raw = ngram.p_positive([t for t, _ in PAIRS])  # without the conversion they drift apart
    assert np.abs(raw - simp).max() > np.abs(trad - simp).max()


def test_lexicon_matches_traditional_text() -> None:
    lexicon = lexicon_for("zh")
    assert lexicon is not None
    for trad, simp in PAIRS:
        a, b = lexicon.analyze(trad), lexicon.analyze(simp)
        assert a.compound == pytest.approx(b.compound) and a.terms == b.terms


def test_other_routes_keep_their_text() -> None:
    texts = ["這間餐廳很好", "I love it"]
    assert route_texts("en", texts) == texts and route_texts("multi", texts) == texts
