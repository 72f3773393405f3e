"""The watches page lists broken watches (skipped by workers) with their error."""

from __future__ import annotations

import pytest

from pipeline.watches.model import Watch
from pipeline.watches.store import WATCHES_KEY, WatchStore
from tests.dashboard.helpers import app_test, page_text

pytestmark = pytest.mark.integration


def test_broken_watches_are_shown_with_their_error(dash_settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    WatchStore(redis_db).put(Watch(id="acme", name="Acme", query="acme"))
    redis_db.hset(
        WATCHES_KEY, "deep", '{"id": "deep", "name": "d", "query": "%s"}' % ("NOT " * 400 + "x")
    )
    at = app_test("watches")
    assert list(at.table[0].value.index) == ["deep"]
    assert "32 levels" in at.table[0].value.loc["deep", "Error"]
    assert list(at.table[1].value.index) == ["acme"]
    assert "1 broken watch(es)" in page_text(at)
