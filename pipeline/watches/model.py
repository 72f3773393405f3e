"""The watch definition (stored as JSON in Redis, seeded from YAML)."""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.schemas import SourceType
from pipeline.watches.query import Matcher, compile_query

log = logging.getLogger(__name__)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Watch(BaseModel):
    """A named query; a post matching it is counted and monitored under ``id``."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable slug: lowercase letters, digits, '-' and '_'.")
    name: str = Field(max_length=200)
    query: str = Field(description="See ``pipeline.watches.query`` (length and depth limited).")
    languages: list[str] | None = Field(None, description="Only these languages (None = all).")
    sources: list[SourceType] | None = Field(None, description="Only these sources.")
    enabled: bool = True
    description: str = Field("", max_length=2000)
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
    """Compiled, enabled watches; ``match`` returns the ids a post belongs to.

    A watch whose query fails to compile or raises while matching (e.g. a stored query
    nested too deep) is moved to ``broken`` (id -> error) and never fails a post.
    """

    def __init__(self, watches: list[Watch], broken: dict[str, str] | None = None) -> None:
        self.broken: dict[str, str] = dict(broken or {})
        self._compiled: list[tuple[Watch, Matcher]] = []
        for watch in watches:
            if not watch.enabled:
                continue
            try:
                self._compiled.append((watch, watch.matcher()))
            except (ValueError, RecursionError) as exc:
                self._mark_broken(watch.id, exc)

    def __len__(self) -> int:
        return len(self._compiled)

    def _mark_broken(self, watch_id: str, exc: BaseException) -> None:
        self.broken[watch_id] = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("watch %r is broken and skipped: %s", watch_id, self.broken[watch_id])

    def match(self, text: str, *, lang: str, source: str, title: str | None = None) -> list[str]:
        folded = (f"{title}\n{text}" if title else text).casefold()
        ids = []
        failed = []
        for watch, matches in self._compiled:
            if (watch.languages is not None and lang not in watch.languages) or (
                watch.sources is not None and source not in watch.sources
            ):
                continue
            try:
                if matches(folded):
                    ids.append(watch.id)
            except Exception as exc:  # one bad watch must not fail the post
                self._mark_broken(watch.id, exc)
                failed.append(watch.id)
        if failed:
            self._compiled = [(w, m) for w, m in self._compiled if w.id not in failed]
        return ids
