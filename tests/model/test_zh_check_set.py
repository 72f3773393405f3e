"""The committed Chinese 3-class check and calibration sets are well-formed and disjoint."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pipeline.model.evaluate import read_labeled
from pipeline.text.hanzi import has_traditional, to_simplified

EVAL = Path(__file__).resolve().parents[2] / "training" / "data" / "eval"


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", to_simplified(text).casefold())


def test_check_and_calib_sets() -> None:
    check, check_gold = read_labeled(None, None, EVAL / "zh_check.tsv")
    calib, calib_gold = read_labeled(None, None, EVAL / "zh_calib.tsv")
    assert (EVAL / "zh_check.tsv").read_text(encoding="utf-8").startswith("label\ttext\n")
    counts = Counter(check_gold)
    assert len(check) >= 330 and set(counts) == {0, 1, 2} and counts[1] >= len(check) / 3
    assert Counter(calib_gold) == {0: 50, 1: 50, 2: 50}
    assert all(8 <= len(t) <= 140 for t in check + calib)
    assert 0.10 <= sum(map(has_traditional, check)) / len(check) <= 0.20
    check_keys, calib_keys = {_key(t) for t in check}, {_key(t) for t in calib}
    assert len(check_keys) == len(check) and len(calib_keys) == len(calib)
    assert not check_keys & calib_keys
