"""Masking on two corpora (tests/text/data): personal data in English, Chinese and other
languages is fully masked; numbers that only look like it (dates, prices, order and
tracking numbers, timestamps, checksum failures) are left alone. Plus linear time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.text.pii import mask_personal_data

DATA = Path(__file__).parent / "data"


def _lines(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


POSITIVE = [tuple(line.split("\t")) for line in _lines("pii_positive.txt")]
LOOKALIKES = _lines("pii_lookalikes.txt")


def test_corpora_are_broad() -> None:
    assert len(POSITIVE) >= 40 and len(LOOKALIKES) >= 40
    assert all(len(case) == 2 for case in POSITIVE), "positive lines are text<TAB>expected"


@pytest.mark.parametrize(("text", "expected"), POSITIVE, ids=[p[0][:40] for p in POSITIVE])
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize("text", LOOKALIKES, ids=[t[:40] for t in LOOKALIKES])
def test_lookalikes_are_kept(text: str) -> None:
    assert mask_personal_data(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "1-" * 10_000,
        "1 " * 10_000,
        "(1) " * 5_000,
        "+1." * 6_000,
        "4111 " * 4_000,
        "DE89 " * 4_000,
        "a" * 20_000 + "@",
        "a@" * 10_000,
        "x.x" * 7_000,
        "手机1" * 7_000,
        "call " + "12-" * 7_000,
        "9" * 20_000,
    ],
    ids=lambda t: repr(t[:8]),
)
def test_adversarial_text_is_masked_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    mask_personal_data(text)
    assert time.perf_counter() - started < 1.0  # quadratic: tens of seconds
