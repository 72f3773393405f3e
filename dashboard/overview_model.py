"""What Overview shows for one window, built once per data version and shared by every
session (``st.cache_data``, ``data.TTL_S``): the page's runs only lay it out.

Every signed-in role sees the whole Overview (roles differ in actions only), so the view
holds nothing per user; it is keyed by everything that changes it: the settings (which
Redis), the watches chosen, the window, the granularity and the source split. Its charts
are finished Vega-Lite specs with their data already in Arrow form, so a run (a page load
or a live refresh) neither builds nor validates nor serialises a chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from streamlit import dataframe_util

from dashboard import charts, data, ui
from pipeline.config import Settings

CURRENT_S = 3600  # 'current' negativity = the last hour of the range (no bare strings: magic)
OPEN: tuple[Any, ...] = ("firing", "acknowledged")


@dataclass(frozen=True)
class OverviewView:
    """The figures, charts and ranking of one Overview window."""

    volume: int
    negative_share: float
    open_alerts: int
    volume_spec: dict[str, Any]
    share_spec: dict[str, Any]
    ranking: pd.DataFrame


def _arrow_datasets(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with its data frames serialised as ``st.vega_lite_chart`` sends them."""
    datasets = {
        name: dataframe_util.convert_anything_to_arrow_bytes(frame)
        for name, frame in spec["datasets"].items()
    }
    return {**spec, "datasets": datasets}


def ranking(
    counts: data.OverviewCounts, open_alerts: list[Any], names: dict[str, str]
) -> pd.DataFrame:
    """Watches by negative share over the last hour of the range (ties: more posts first)."""
    per_watch: dict[str, int] = {}
    for alert in open_alerts:
        per_watch[alert.watch_id] = per_watch.get(alert.watch_id, 0) + 1
    rows = [
        {
            "Watch": watch_id,
            "Name": names.get(watch_id, watch_id),
            "Posts (last hour)": now["volume"],
            "Negative (last hour)": now["negative_share"],
            "Posts (range)": counts.whole[watch_id]["volume"],
            "Negative (range)": counts.whole[watch_id]["negative_share"],
            "Open alerts": per_watch.get(watch_id, 0),
        }
        for watch_id, now in counts.last_hour.items()
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values(
        ["Negative (last hour)", "Posts (last hour)"], ascending=[False, False]
    )
    for col in ("Negative (last hour)", "Negative (range)"):
        frame[col] = frame[col].map(ui.fmt_share)
    return frame.reset_index(drop=True)


@st.cache_data(ttl=data.TTL_S, show_spinner=False, hash_funcs=data.HASH_FUNCS)
def overview_view(
    s: Settings,
    watch_ids: tuple[str, ...],
    since: datetime,
    until: datetime,
    granularity_s: int,
    by_source: bool,
) -> OverviewView:
    """Overview of ``watch_ids`` over ``[since, until)`` (one aggregate round trip, alerts
    and watches from their shared caches)."""
    current_since = max(since, until - timedelta(seconds=CURRENT_S))
    counts = data.overview_counts(
        s, watch_ids, since, until, current_since, granularity_s, by_source
    )
    open_alerts = data.alerts(s, OPEN)
    periods = data.alert_periods(s, watch_ids, since, until)
    names = {w.id: w.name for w in data.watches(s)}
    return OverviewView(
        volume=counts.overall["volume"],
        negative_share=counts.overall["negative_share"],
        open_alerts=len(open_alerts),
        volume_spec=_arrow_datasets(charts.trend_spec(counts.series, "volume", periods)),
        share_spec=_arrow_datasets(charts.trend_spec(counts.series, "negative_share", periods)),
        ranking=ranking(counts, open_alerts, names),
    )
