"""Overview: volume and negative share over time per watch (and source), alert periods shaded,
watches ranked by current negativity; charts refresh live in a fragment."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from pipeline.config import Settings

CURRENT_S = 3600  # 'current' negativity = the last hour of the range (no bare strings: magic)


def _ranking(
    s: Settings, watch_ids: list[str], names: dict[str, str], since, until
) -> pd.DataFrame:
    """Watches by negative share over the last hour of the range (ties: more posts first)."""
    current_since = max(since, until - timedelta(seconds=CURRENT_S))
    open_alerts: dict[str, int] = {}
    for alert in data.alerts(s, ("firing", "acknowledged")):
        open_alerts[alert.watch_id] = open_alerts.get(alert.watch_id, 0) + 1
    rows = []
    for watch_id in watch_ids:
        now = data.totals(s, watch_id, current_since, until)
        whole = data.totals(s, watch_id, since, until)
        rows.append(
            {
                "Watch": watch_id,
                "Name": names.get(watch_id, watch_id),
                "Posts (last hour)": now["volume"],
                "Negative (last hour)": now["negative_share"],
                "Posts (range)": whole["volume"],
                "Negative (range)": whole["negative_share"],
                "Open alerts": open_alerts.get(watch_id, 0),
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values(
        ["Negative (last hour)", "Posts (last hour)"], ascending=[False, False]
    )
    for col in ("Negative (last hour)", "Negative (range)"):
        frame[col] = frame[col].map(ui.fmt_share)
    return frame.reset_index(drop=True)


def _controls(s: Settings) -> dict:
    known = {w.id: w.name for w in data.watches(s)}
    with_data = data.watch_ids_with_data(s)
    options = sorted(set(known) | set(with_data))
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    range_label = c1.segmented_control(
        "Range", list(ui.RANGES), default="24 h", required=True, key="ov_range"
    )
    gran_choices = [
        g for g in ui.RANGE_GRANULARITIES[range_label] if ui.GRANULARITIES[g] % s.bucket_s == 0
    ] or ["1 h"]
    gran_label = c2.selectbox("Granularity", gran_choices, key=f"ov_gran_{range_label}")
    anchor = c3.selectbox(
        "Range ends",
        ["now", "latest data"],
        key="ov_anchor",
        help="'latest data' ends the range at the newest counted post (for replayed history).",
    )
    chosen = c4.multiselect(
        "Watches",
        options,
        default=with_data or options,
        key="ov_watches",
        format_func=lambda w: known.get(w, w),
    )
    c5, c6, c7 = st.columns([2, 2, 5])
    by_source = c5.toggle("Split by source", key="ov_by_source")
    live = c6.toggle("Live refresh", value=True, key="ov_live")
    every = c7.select_slider(
        "Refresh every (s)", [5, 10, 30, 60], value=10, key="ov_every", disabled=not live
    )
    return {
        "names": known,
        "watches": chosen,
        "range_s": ui.RANGES[range_label],
        "granularity_s": ui.GRANULARITIES[gran_label],
        "anchor": anchor,
        "by_source": by_source,
        "every": every if live else None,
    }


def _render_body(s: Settings, opts: dict) -> None:
    end = ui.now_utc()
    if opts["anchor"] == "latest data":
        end = data.latest_event_time(s) or end
    since, until = ui.window(end, opts["range_s"], opts["granularity_s"])
    watch_ids: list[str] = opts["watches"]
    st.caption(
        f"{ui.fmt_time(since)} → {ui.fmt_time(until)} · buckets of "
        f"{opts['granularity_s'] // 60} min · updated {ui.now_utc():%H:%M:%S} UTC"
    )
    if not watch_ids:
        st.info("No watches with data yet: start workers and replay a feed (`opinion replay`).")
        return
    overall = data.totals(s, None, since, until)
    open_count = len(data.alerts(s, ("firing", "acknowledged")))
    m1, m2, m3 = st.columns(3)
    m1.metric("Posts in range", f"{overall['volume']:,}")
    m2.metric("Negative share", ui.fmt_share(overall["negative_share"]))
    m3.metric("Open alerts", open_count)

    series = data.series_frame(
        s, tuple(watch_ids), since, until, opts["granularity_s"], opts["by_source"]
    )
    periods = data.alert_periods(s, watch_ids, since, until)
    st.subheader("Volume")
    st.altair_chart(charts.trend_chart(series, "volume", periods), width="stretch")
    st.subheader("Negative share")
    st.altair_chart(charts.trend_chart(series, "negative_share", periods), width="stretch")

    st.subheader("Watches by current negativity")
    ranking = _ranking(s, watch_ids, opts["names"], since, until)
    st.table(ranking.set_index("Watch") if not ranking.empty else ranking)


def render() -> None:
    s = data.settings()
    st.title("Overview")
    opts = _controls(s)

    @st.fragment(run_every=opts["every"])
    def body() -> None:
        with ui.data_errors():  # a fragment rerun is not inside the app's guard
            _render_body(s, opts)

    body()


if __name__ == "__main__":
    render()
