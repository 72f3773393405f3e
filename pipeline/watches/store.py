"""Watches in Redis: editable at runtime (dashboard/CLI), seeded from a YAML file.

Layout: hash ``opinion:watches`` (id -> JSON) and counter
``opinion:{opinion:watches}:version`` that every change increments in the same MULTI, so
workers reload only when something changed.
The counter's hash tag is the hash's whole name, so both live in one Redis Cluster slot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import redis
import yaml

from pipeline.keys import WATCHES as WATCHES_KEY
from pipeline.keys import WATCHES_VERSION as VERSION_KEY
from pipeline.watches.model import Watch, WatchSet

log = logging.getLogger(__name__)


def load_watch_file(path: Path) -> list[Watch]:
    """Watches from YAML: a list, or a mapping with a ``watches`` list."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    items = data.get("watches", []) if isinstance(data, dict) else data
    return [Watch.model_validate(item) for item in items]


def parse_watches(raw: Mapping[bytes | str, bytes | str]) -> tuple[list[Watch], dict[str, str]]:
    """The valid watches of a ``WATCHES_KEY`` hash (by id) and the broken ones (id -> error):
    not a valid watch, or a query that does not compile (too long, too deep, bad syntax).
    A broken watch is logged and skipped, so it never stops scoring for the others."""
    watches: list[Watch] = []
    broken: dict[str, str] = {}
    for key, value in raw.items():
        watch_id = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        try:
            watches.append(Watch.model_validate_json(value))
        except (ValueError, RecursionError) as exc:
            broken[watch_id] = _short_error(exc)
            log.warning("watch %r in Redis is broken and skipped: %s", watch_id, exc)
    return sorted(watches, key=lambda w: w.id), broken


def _short_error(exc: Exception) -> str:
    """A validation error's messages on one line (pydantic's own text spans lines)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'watch'}: {e['msg']}"
                for e in errors(include_url=False)
            )[:500]
        except Exception:  # fall back to the plain text
            pass
    return f"{type(exc).__name__}: {exc}"[:500]


class WatchStore:
    """CRUD for watches on a sync Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def all(self) -> list[Watch]:
        """Every valid watch, by id; broken ones are skipped (see ``broken``)."""
        return parse_watches(self.redis.hgetall(WATCHES_KEY))[0]

    def broken(self) -> dict[str, str]:
        """Watches in Redis that cannot be used (id -> why), e.g. for the dashboard."""
        return parse_watches(self.redis.hgetall(WATCHES_KEY))[1]

    def get(self, watch_id: str) -> Watch | None:
        raw = self.redis.hget(WATCHES_KEY, watch_id)
        return Watch.model_validate_json(raw) if raw else None

    def put(self, watch: Watch) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(WATCHES_KEY, watch.id, watch.model_dump_json())
        pipe.incr(VERSION_KEY)
        pipe.execute()

    def delete(self, watch_id: str) -> bool:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(WATCHES_KEY, watch_id)
        pipe.incr(VERSION_KEY)
        return bool(pipe.execute()[0])

    def seed(self, watches: list[Watch], *, overwrite: bool = False) -> list[str]:
        """Add watches that are not there yet (or all, with ``overwrite``); returns ids added."""
        added = []
        for watch in watches:
            if overwrite or not self.redis.hexists(WATCHES_KEY, watch.id):
                self.put(watch)
                added.append(watch.id)
        return added

    def version(self) -> int:
        return int(self.redis.get(VERSION_KEY) or 0)

    def watch_set(self) -> WatchSet:
        return WatchSet(*parse_watches(self.redis.hgetall(WATCHES_KEY)))
