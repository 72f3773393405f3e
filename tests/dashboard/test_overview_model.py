"""Overview's shared view (issue 20): one aggregate round trip that reads what the store
reads, built once for every session, never for a session that has not signed in."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from dashboard import charts, data
from dashboard.accounts import AccountStore
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from tests.dashboard.helpers import alert, app_test, minutes_ago, page_text, post

pytestmark = pytest.mark.integration
WATCHES = ("acme-air", "zentro")


def seed(settings, redis_db) -> None:
    WatchStore(redis_db).put(Watch(id="acme-air", name="Acme Air", query="acme"))
    posts = [post(f"a-{i}", "negative", at=minutes_ago(5 + 20 * i)) for i in range(6)]
    posts += [post(f"z-{i}", "positive", watch="zentro", at=minutes_ago(70)) for i in range(3)]
    posts.append(post("z-news", "neutral", watch="zentro", source="news", at=minutes_ago(9)))
    AggregateStore(redis_db, settings).record_batch(posts)
    AlertStore(redis_db, settings).open(alert("acme-air-1"))


def count_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    calls: list[tuple] = []
    real = data.overview_counts

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "overview_counts", spy)
    return calls


@pytest.mark.parametrize("by_source", [False, True])
def test_one_round_trip_reads_what_the_store_reads(dash_settings, redis_db, by_source) -> None:
    seed(dash_settings, redis_db)
    store = AggregateStore(redis_db, dash_settings)
    until = minutes_ago(0).replace(second=0) + timedelta(minutes=5)
    since, current = until - timedelta(hours=24), until - timedelta(hours=1)
    counts = data.overview_counts(dash_settings, WATCHES, since, until, current, 300, by_source)
    assert counts.overall == store.totals(None, since, until)
    for watch in WATCHES:
        assert counts.last_hour[watch] == store.totals(watch, current, until)
        assert counts.whole[watch] == store.totals(watch, since, until)
    one_by_one = data.series_frame(dash_settings, WATCHES, since, until, 300, by_source)
    pd.testing.assert_frame_equal(counts.series, one_by_one)
    assert counts.overall["volume"] == 10 and counts.last_hour["zentro"]["volume"] == 1


def test_the_view_is_built_once_for_every_session(dash_settings, redis_db, monkeypatch) -> None:
    seed(dash_settings, redis_db)
    calls = count_calls(monkeypatch)
    first, second = app_test("overview"), app_test("overview")
    assert len(calls) == 1
    assert page_text(first).count("Open alerts 1") == page_text(second).count("Open alerts 1") == 1
    specs = [c.proto.spec for c in second.get("vega_lite_chart")]
    assert len(specs) == 2 and all('"rect"' in spec for spec in specs)  # alert shaded


def test_no_view_is_built_before_sign_in(dash_settings, redis_db, monkeypatch) -> None:
    seed(dash_settings, redis_db)
    AccountStore(redis_db).add("vera", "viewer", "pw-vera")
    calls = count_calls(monkeypatch)
    at = app_test("overview")
    assert "Sign in to continue." in page_text(at)
    assert not calls and not at.get("vega_lite_chart")


def test_settings_are_parsed_again_only_when_the_environment_changes(
    dash_settings, monkeypatch
) -> None:
    first = data.settings()
    assert data.settings() is first
    monkeypatch.setenv("OPINION_DASHBOARD_PORT", "9876")
    changed = data.settings()
    assert changed is not first and changed.dashboard_port == 9876


def test_trend_spec_is_the_chart_with_its_data_beside_it() -> None:
    series = pd.DataFrame(
        {"time": [minutes_ago(5)], "series": ["acme-air"], "volume": [3], "negative_share": [0.5]}
    )
    periods = pd.DataFrame(
        [{"start": minutes_ago(9), "end": minutes_ago(1), "watch": "acme-air",
          "severity": "high", "state": "firing"}]
    )  # fmt: skip
    plain = charts.trend_spec(series, "volume")
    assert set(plain["datasets"]) == {charts.SERIES_DATA} and "config" not in plain
    assert plain["data"] == {"name": charts.SERIES_DATA}
    assert all(layer["mark"]["aria"] is False for layer in plain["layer"])
    layered = charts.trend_spec(series, "negative_share", periods)
    assert [layer["data"]["name"] for layer in layered["layer"]] == ["alerts", "series"]
    assert layered["datasets"][charts.ALERTS_DATA] is periods
    layered["layer"].clear()  # a spec is a copy: the shared template is untouched
    assert charts.trend_spec(series, "negative_share", periods)["layer"]
