"""The watch definition (stored as JSON in Redis, seeded from YAML)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.schemas import SourceType
from pipeline.watches.query import Matcher, compile_query

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Watch(BaseModel):
    """A named query; a post matching it is counted and monitored under ``id``."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable slug: lowercase letters, digits, '-' and '_'.")
    name: str
    query: str
    languages: list[str] | None = Field(None, description="Only these languages (None = all).")
    sources: list[SourceType] | None = Field(None, description="Only these sources.")
    enabled: bool = True
    description: str = ""
    detector: dict[str, Any] | None = Field(None, description="Spike-detector overrides.")

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("id must be a lowercase slug: [a-z0-9][a-z0-9_-]{0,63}")
        return value

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        compile_query(value)  # raises QuerySyntaxError (a ValueError) with the reason
        return value

    def matcher(self) -> Matcher:
        return compile_query(self.query)


class WatchSet:
    """Compiled, enabled watches; ``match`` returns the ids a post belongs to."""

    def __init__(self, watches: list[Watch]) -> None:
        self._compiled = [(w, w.matcher()) for w in watches if w.enabled]

    def __len__(self) -> int:
        return len(self._compiled)

    def match(self, text: str, *, lang: str, source: str, title: str | None = None) -> list[str]:
        folded = (f"{title}\n{text}" if title else text).casefold()
        return [
            watch.id
            for watch, matches in self._compiled
            if (watch.languages is None or lang in watch.languages)
            and (watch.sources is None or source in watch.sources)
            and matches(folded)
        ]
