"""Overview: volume and negative share over time per watch (and source), alert periods shaded,
watches ranked by current negativity; charts refresh live in a fragment."""

from __future__ import annotations

import streamlit as st

from dashboard import data, ui
from dashboard.overview_model import overview_view
from pipeline.config import Settings


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
    view = overview_view(
        s, tuple(watch_ids), since, until, opts["granularity_s"], opts["by_source"]
    )
    m1, m2, m3 = st.columns(3)
    m1.metric("Posts in range", f"{view.volume:,}")
    m2.metric("Negative share", ui.fmt_share(view.negative_share))
    m3.metric("Open alerts", view.open_alerts)

    st.subheader("Volume")
    st.vega_lite_chart(view.volume_spec, width="stretch")
    st.subheader("Negative share")
    st.vega_lite_chart(view.share_spec, width="stretch")

    st.subheader("Watches by current negativity")
    ranking = view.ranking
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
