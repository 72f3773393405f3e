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


def test_a_thousand_nested_nots_are_refused_at_creation() -> None:
    with pytest.raises(ValueError, match="2000-character limit"):
        Watch(id="deep", name="Deep", query="NOT " * 1000 + "acme")
    with pytest.raises(ValueError, match="32 levels"):  # short enough, still too deep
        Watch(id="deep", name="Deep", query="NOT " * 400 + "acme")
    with pytest.raises(QuerySyntaxError, match="32 levels"):
        compile_query("(" * 33 + "acme" + ")" * 33)


def test_queries_at_the_limits_compile() -> None:
    assert compile_query("NOT " * 31 + "(acme)")("acme") is False  # 32 levels, odd NOTs
    assert compile_query(" OR ".join(f"t{i}" for i in range(400))[:2000])("t3") is True


class _Exploding(Watch):
    def matcher(self):  # type: ignore[no-untyped-def]
        def matches(text: str) -> bool:
            raise RecursionError("maximum recursion depth exceeded")

        return matches


def test_a_watch_that_fails_to_compile_or_match_is_broken_not_fatal() -> None:
    stored = Watch.model_construct(id="deep", name="D", query="NOT " * 400 + "x", enabled=True)
    watches = WatchSet(
        [
            Watch(id="ok", name="OK", query="acme"),
            stored,  # written before the limits existed: never validated
            _Exploding(id="boom", name="Boom", query="acme"),
        ]
    )
    assert "32 levels" in watches.broken["deep"]
    assert watches.match("acme", lang="en", source="social") == ["ok"]
    assert watches.broken["boom"].startswith("RecursionError") and len(watches) == 1
    assert watches.match("acme again", lang="en", source="social") == ["ok"]
