"""Watch queries: terms, "quoted phrases", AND / OR / NOT, parentheses, trailing-* prefixes.

Adjacent terms are ANDed. Matching is case-insensitive; Latin terms match on word
boundaries, terms containing CJK characters match as substrings (no spaces in CJK text).

    "acme air" OR #acmeair OR (acme AND flight*) NOT ad
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Matcher = Callable[[str], bool]

MAX_QUERY_CHARS = 2000
MAX_QUERY_DEPTH = 32
"""Deepest nesting of ``NOT`` and parentheses: deeper queries would overflow the stack."""

_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|"(?P<phrase>[^"]*)"|(?P<word>[^\s()"]+))')
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_OPERATORS = {"AND", "OR", "NOT"}


class QuerySyntaxError(ValueError):
    """The query cannot be parsed; the message points at the problem."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(", ")", "AND", "OR", "NOT", "TERM"
    text: str = ""


def _tokenise(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    query = query.rstrip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise QuerySyntaxError(f"unexpected character at {pos}: {query[pos : pos + 10]!r}")
        pos = m.end()
        if m["lp"]:
            tokens.append(_Tok("("))
        elif m["rp"]:
            tokens.append(_Tok(")"))
        elif m["phrase"] is not None:
            if not m["phrase"].strip():
                raise QuerySyntaxError("empty quoted phrase")
            tokens.append(_Tok("TERM", m["phrase"]))
        elif m["word"] in _OPERATORS:
            tokens.append(_Tok(m["word"]))
        else:
            tokens.append(_Tok("TERM", m["word"]))
    return tokens


def _term_matcher(term: str) -> Matcher:
    term = term.casefold().strip()
    if _CJK.search(term):
        return lambda text: term in text
    prefix = term.endswith("*") and len(term) > 1
    body = re.escape(term.rstrip("*")).replace(r"\ ", r"\s+")
    suffix = r"\w*" if prefix else ""
    pattern = re.compile(rf"(?<!\w){body}{suffix}(?!\w)")
    return lambda text: pattern.search(text) is not None


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def nest(self) -> None:
        """Enter a ``NOT`` or parenthesis; refuse queries nested deeper than the limit."""
        self.depth += 1
        if self.depth > MAX_QUERY_DEPTH:
            raise QuerySyntaxError(
                f"query nests NOT/parentheses over {MAX_QUERY_DEPTH} levels deep; simplify it"
            )

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Matcher:
        if not self.tokens:
            raise QuerySyntaxError("empty query")
        matcher = self.or_expr()
        extra = self.peek()
        if extra is not None:
            raise QuerySyntaxError(f"unexpected {extra.kind!r}")
        return matcher

    def or_expr(self) -> Matcher:
        parts = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda t: any(p(t) for p in parts))

    def and_expr(self) -> Matcher:
        parts = [self.not_expr()]
        while (tok := self.peek()) is not None and tok.kind in ("AND", "NOT", "TERM", "("):
            if tok.kind == "AND":
                self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (lambda t: all(p(t) for p in parts))

    def not_expr(self) -> Matcher:
        tok = self.peek()
        if tok is not None and tok.kind == "NOT":
            self.take()
            self.nest()
            inner = self.not_expr()
            self.depth -= 1
            return lambda t: not inner(t)
        return self.atom()

    def atom(self) -> Matcher:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError("query ends where a term was expected")
        self.take()
        if tok.kind == "TERM":
            return _term_matcher(tok.text)
        if tok.kind == "(":
            self.nest()
            inner = self.or_expr()
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise QuerySyntaxError("missing ')'")
            self.take()
            self.depth -= 1
            return inner
        raise QuerySyntaxError(f"unexpected {tok.kind!r} where a term was expected")


def compile_query(query: str) -> Matcher:
    """Compile a query to a function of *case-folded* text; ``QuerySyntaxError`` for an
    invalid one, or one over ``MAX_QUERY_CHARS`` characters or ``MAX_QUERY_DEPTH`` levels."""
    if len(query) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"query is {len(query)} characters, over the {MAX_QUERY_CHARS}-character limit"
        )
    return _Parser(_tokenise(query)).parse()
