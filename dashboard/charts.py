"""Altair charts of the overview (pure functions of DataFrames; no Streamlit, no Redis).

``trend_chart`` is the chart; ``trend_spec`` the same chart as a Vega-Lite spec whose data
sits beside it under stable names (``SERIES_DATA``, ``ALERTS_DATA``), so that it can be built
once per data version, shared by every session and handed to ``st.vega_lite_chart``.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, TypeAlias

import altair as alt
import pandas as pd

SEVERITY_COLORS = {"low": "#f2c14e", "medium": "#f78154", "high": "#d1495b", "critical": "#8e0c25"}
METRIC_TITLES = {"volume": "Posts per bucket", "negative_share": "Negative share"}
SERIES_DATA, ALERTS_DATA = "series", "alerts"
"""Dataset names of ``trend_spec``: stable, so a live refresh with new numbers updates the
drawn chart's data instead of rebuilding it."""

ChartData: TypeAlias = pd.DataFrame | alt.NamedData


def _alert_layer(alerts: ChartData) -> alt.Chart:
    """Shaded alert periods: one translucent band per alert, coloured by severity."""
    return (
        alt.Chart(alerts)
        .mark_rect(opacity=0.18)
        .encode(
            x="start:T",
            x2="end:T",
            color=alt.Color(
                "severity:N",
                scale=alt.Scale(domain=list(SEVERITY_COLORS), range=list(SEVERITY_COLORS.values())),
                legend=alt.Legend(title="Alert severity"),
            ),
            tooltip=[
                alt.Tooltip("watch:N", title="Watch"),
                alt.Tooltip("severity:N", title="Severity"),
                alt.Tooltip("state:N", title="State"),
                alt.Tooltip("start:T", title="From", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("end:T", title="To", format="%Y-%m-%d %H:%M"),
            ],
        )
    )


def _lines(series: ChartData, metric: str) -> alt.LayerChart:
    """A line per series, and a point per bucket that carries the tooltip.

    Only the points have tooltips (a line's path answers for its first bucket wherever it is
    hovered), and no mark has per-item ARIA descriptions (one generated text per bucket,
    thousands per chart, most of the browser's drawing time for nothing a screen reader
    could use; the axes keep theirs).
    """
    title = METRIC_TITLES.get(metric, metric)
    axis = alt.Axis(format="%") if metric == "negative_share" else alt.Undefined
    base = alt.Chart(series).encode(
        x=alt.X("time:T", title="Time (UTC)"),
        y=alt.Y(f"{metric}:Q", title=title, axis=axis),
        color=alt.Color("series:N", title="Watch / source"),
    )
    lines = base.mark_line(interpolate="monotone", aria=False)
    points = base.mark_point(filled=True, size=12, opacity=1, aria=False).encode(
        tooltip=[
            alt.Tooltip("series:N", title="Series"),
            alt.Tooltip("time:T", title="Bucket", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("volume:Q", title="Posts"),
            alt.Tooltip("negative_share:Q", title="Negative share", format=".1%"),
        ]
    )
    return alt.layer(lines, points)


def _trend(series: ChartData, metric: str, alerts: ChartData | None, height: int) -> alt.LayerChart:
    chart = _lines(series, metric)
    if alerts is not None:
        chart = alt.layer(_alert_layer(alerts), chart).resolve_scale(color="independent")
    return chart.properties(height=height)


def trend_chart(
    series: pd.DataFrame, metric: str, alerts: pd.DataFrame | None = None, height: int = 260
) -> alt.LayerChart:
    """A line per series (``series`` column) of ``metric`` over ``time``; alerts shaded.

    ``series`` has columns ``time`` (datetime), ``series`` (label), ``volume`` and
    ``negative_share``; ``alerts`` has ``start``, ``end``, ``watch``, ``severity``, ``state``.
    """
    shaded = alerts if alerts is not None and not alerts.empty else None
    return _trend(series, metric, shaded, height)


def trend_spec(
    series: pd.DataFrame, metric: str, alerts: pd.DataFrame | None = None, height: int = 260
) -> dict[str, Any]:
    """``trend_chart`` as a Vega-Lite spec; ``datasets`` maps its data names to the frames.

    Altair's default theme (a 300 px view) is left out, as ``st.altair_chart`` does.
    """
    shaded = alerts is not None and not alerts.empty
    spec = copy.deepcopy(trend_spec_template(metric, shaded, height))
    spec["datasets"] = {SERIES_DATA: series} | ({ALERTS_DATA: alerts} if shaded else {})
    return spec


@functools.lru_cache(maxsize=16)
def trend_spec_template(metric: str, shaded: bool, height: int = 260) -> dict[str, Any]:
    """The spec of a trend chart without its data (built and validated once per shape)."""
    alerts = alt.NamedData(name=ALERTS_DATA) if shaded else None
    spec = _trend(alt.NamedData(name=SERIES_DATA), metric, alerts, height).to_dict()
    spec.pop("config", None)
    return spec
