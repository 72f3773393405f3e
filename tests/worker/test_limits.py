"""Input limits of a post: every string field has a length limit (dead-lettered beyond, the
reason naming the field) and language codes are validated and case-normalised."""

from __future__ import annotations

import pytest

from pipeline.schemas import (
    MAX_AUTHOR_CHARS,
    MAX_ID_CHARS,
    MAX_LANG_CHARS,
    MAX_SOURCE_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
)
from tests.worker.test_batch import make_processor, post, run

LIMITS = {
    "id": MAX_ID_CHARS,
    "source_name": MAX_SOURCE_NAME_CHARS,
    "author": MAX_AUTHOR_CHARS,
    "title": MAX_TITLE_CHARS,
    "url": MAX_URL_CHARS,
}


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_each_string_field_is_limited_and_the_reason_names_it(name: str) -> None:
    limit = LIMITS[name]
    processor, _ = make_processor()
    at_limit = run(processor, [post(1, "great", **{name: "x" * limit})])
    over = run(processor, [post(2, "great", **{name: "y" * (limit + 1)})])
    assert len(at_limit.scored) == 1 and at_limit.dead == []
    assert over.scored == [] and len(over.dead) == 1
    assert over.dead[0].stage == "validate"
    assert over.dead[0].error == f"{name}: longer than {limit} characters ({limit + 1})"


def test_a_100_kb_url_is_dead_lettered_naming_the_field() -> None:
    processor, _ = make_processor()
    result = run(processor, [post(1, "great", url="https://x.example/" + "a" * 100_000)])
    assert result.scored == []
    assert result.dead[0].error.startswith("url: longer than 2048 characters")


@pytest.mark.parametrize(
    ("given", "stored"),
    [("EN", "en"), ("en_US", "en-us"), ("zh-Hant-TW", "zh-hant-tw"), (" fil ", "fil")],
)
def test_language_codes_are_normalised(given: str, stored: str) -> None:
    processor, _ = make_processor()
    result = run(processor, [post(1, "great", lang=given)])
    assert [s.lang for s in result.scored] == [stored]


def test_an_empty_language_is_detected() -> None:
    processor, _ = make_processor()
    assert [s.lang for s in run(processor, [post(1, "a great day", lang="  ")]).scored] == ["en"]


@pytest.mark.parametrize(
    "bad", ["english", "e", "en-", "en--us", "en us", "en-abcdefghi", "1en", "x" * MAX_LANG_CHARS]
)
def test_invalid_language_codes_are_dead_lettered(bad: str) -> None:
    processor, _ = make_processor()
    result = run(processor, [post(1, "great", lang=bad)])
    assert result.scored == [] and result.dead[0].error.startswith("lang: ")
