"""Watch query language: terms, phrases, AND/OR/NOT, parentheses, prefixes, CJK."""

from __future__ import annotations

import pytest

from pipeline.watches.model import Watch, WatchSet
from pipeline.watches.query import QuerySyntaxError, compile_query


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("acme", "I love ACME!", True),
        ("acme", "acmeair", False),
        ('"acme air"', "flew acme   air today", True),
        ("acme air", "air travel with acme", True),  # implicit AND
        ("acme OR zentro", "my zentro phone", True),
        ("acme NOT ad", "acme ad", False),
        ("acme AND (late OR delay*)", "acme delayed again", True),
        ("acme AND (late OR delay*)", "acme on time", False),
        ("#acmeair", "love #acmeair", True),
        ("华为", "我的华为手机很好", True),
        ("NOT spam", "anything", True),
    ],
)
def test_matching(query: str, text: str, expected: bool) -> None:
    assert compile_query(query)(text.casefold()) is expected


@pytest.mark.parametrize("query", ["", "(acme", "acme AND", "OR acme", '""', "acme )"])
def test_bad_queries_are_rejected(query: str) -> None:
    with pytest.raises(QuerySyntaxError):
        compile_query(query)


def test_watch_set_filters_language_source_and_disabled() -> None:
    watches = WatchSet(
        [
            Watch(id="a", name="A", query="acme", languages=["en"]),
            Watch(id="b", name="B", query="acme", sources=["news"]),
            Watch(id="c", name="C", query="acme", enabled=False),
        ]
    )
    assert watches.match("acme", lang="en", source="social") == ["a"]
    assert watches.match("x", lang="fr", source="news", title="Acme news") == ["b"]


def test_watch_validation() -> None:
    with pytest.raises(ValueError, match="slug"):
        Watch(id="Bad Id", name="x", query="a")
    with pytest.raises(ValueError):
        Watch(id="ok", name="x", query="(a")
