"""Analysts' watches: named keyword queries that posts are matched against."""

from pipeline.watches.model import Watch
from pipeline.watches.query import QuerySyntaxError, compile_query
from pipeline.watches.store import WatchStore

__all__ = ["QuerySyntaxError", "Watch", "WatchStore", "compile_query"]
