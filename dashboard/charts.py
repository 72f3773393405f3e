"""Altair charts of the overview (pure functions of DataFrames; no Streamlit, no Redis)."""

from __future__ import annotations

import altair as alt
import pandas as pd

SEVERITY_COLORS = {"low": "#f2c14e", "medium": "#f78154", "high": "#d1495b", "critical": "#8e0c25"}
METRIC_TITLES = {"volume": "Posts per bucket", "negative_share": "Negative share"}


def _alert_layer(alerts: pd.DataFrame) -> alt.Chart:
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


def trend_chart(
    series: pd.DataFrame, metric: str, alerts: pd.DataFrame | None = None, height: int = 260
) -> alt.LayerChart | alt.Chart:
    """A line per series (``series`` column) of ``metric`` over ``time``; alerts shaded.

    ``series`` has columns ``time`` (datetime), ``series`` (label), ``volume`` and
    ``negative_share``; ``alerts`` has ``start``, ``end``, ``watch``, ``severity``, ``state``.
    """
    y_axis = (
        alt.Y(f"{metric}:Q", title=METRIC_TITLES.get(metric, metric), axis=alt.Axis(format="%"))
        if metric == "negative_share"
        else alt.Y(f"{metric}:Q", title=METRIC_TITLES.get(metric, metric))
    )
    lines = (
        alt.Chart(series)
        .mark_line(point=alt.OverlayMarkDef(size=12), interpolate="monotone")
        .encode(
            x=alt.X("time:T", title="Time (UTC)"),
            y=y_axis,
            color=alt.Color("series:N", title="Watch / source"),
            tooltip=[
                alt.Tooltip("series:N", title="Series"),
                alt.Tooltip("time:T", title="Bucket", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("volume:Q", title="Posts"),
                alt.Tooltip("negative_share:Q", title="Negative share", format=".1%"),
            ],
        )
    )
    chart: alt.LayerChart | alt.Chart = lines
    if alerts is not None and not alerts.empty:
        chart = alt.layer(_alert_layer(alerts), lines).resolve_scale(color="independent")
    return chart.properties(height=height)
