"""Alerts: open / acknowledged / resolved spikes with their context, their deliveries (parked
ones highlighted, with a button to re-queue them), and the buttons to acknowledge or resolve
them."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data, ui
from dashboard.accounts import Action
from dashboard.highlight import highlight
from pipeline.alerting.store import AlertNotFound
from pipeline.config import Settings
from pipeline.schemas import Alert, AlertReason, AlertState

STATE_TITLES: dict[AlertState, str] = {
    "firing": "Open",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
}
SEVERITY_ICONS = {"low": "🟡", "medium": "🟠", "high": "🔴", "critical": "🟥"}
DELIVERY_STATES = {"pending": "⏳ pending", "parked": "⛔ parked", "sent": "✅ sent"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def widget_key(prefix: str, alert_id: str) -> str:
    """A widget key (and CSS class ``st-key-...``) for one alert's control."""
    return f"{prefix}-{_UNSAFE.sub('_', alert_id)}"


def _act(s: Settings, action: str, alert_id: str, user: str) -> None:
    needed: Action = "acknowledge" if action == "ack" else "resolve"
    if not ui.authorize(needed):
        st.session_state["alerts_flash"] = ("error", ui.denied(needed))
        return
    try:
        fn = data.acknowledge_alert if action == "ack" else data.resolve_alert
        changed = fn(s, alert_id, user)
    except AlertNotFound:
        st.session_state["alerts_flash"] = ("error", f"Alert {alert_id} no longer exists.")
        return
    verb = "acknowledged" if action == "ack" else "resolved"
    msg = f"Alert {alert_id} {verb}." if changed else f"Alert {alert_id} was already {verb}."
    st.session_state["alerts_flash"] = ("success", msg)


def _requeue(s: Settings, delivery_id: str) -> None:
    if not ui.authorize("requeue"):
        st.session_state["alerts_flash"] = ("error", ui.denied("requeue"))
        return
    if data.requeue_delivery(s, delivery_id):
        st.session_state["alerts_flash"] = ("success", f"Delivery {delivery_id} re-queued.")
    else:
        st.session_state["alerts_flash"] = ("error", f"Delivery {delivery_id} is not parked.")


def _delivery_row(d: dict[str, Any]) -> dict[str, Any]:
    last = d.get("sent_at") or d.get("parked_at") or d.get("last_attempt_at")
    return {
        "Channel": d["channel"],
        "Event": d["event"],
        "State": DELIVERY_STATES.get(d["state"], d["state"]),
        "Attempts": d["attempts"],
        "Last error": d.get("last_error") or "",
        "Last change": ui.fmt_time(datetime.fromtimestamp(last, UTC)) if last else "",
    }


def _deliveries(s: Settings, alert: Alert) -> None:
    """Where the alert's events went: one row per channel and event; parked ones stand out."""
    rows = data.alert_deliveries(s, alert.id)
    if not rows:
        return
    parked = [d for d in rows if d["state"] == "parked"]
    label = f"Deliveries ({len(rows)}" + (f", {len(parked)} parked)" if parked else ")")
    with st.expander(label, expanded=bool(parked)):
        for d in parked:
            error = (d.get("last_error") or "unknown error").replace("`", "'")
            st.error(
                f"Parked: {d['channel']} ({d['event']}) after {d['attempts']} attempt(s): "
                f"`{error}`. Not retried until re-queued."
            )
            st.button(
                f"Re-queue {d['channel']} ({d['event']})",
                key=widget_key("requeue", d["id"]),
                disabled=not ui.can("requeue"),
                on_click=_requeue,
                args=(s, d["id"]),
            )
        st.table(pd.DataFrame([_delivery_row(d) for d in rows]))


KIND_TITLES = {
    "negative_share": "negative share",
    "negative_volume": "negative posts",
    "volume": "mentions (all posts)",
}


def _reason(reason: AlertReason) -> str:
    """``negative share 78% vs 27% expected`` / ``mentions 420 vs 95 expected (4.4x)``."""
    title = KIND_TITLES.get(reason.kind, reason.kind)
    if reason.kind == "negative_share":
        observed, expected = ui.fmt_share(reason.observed), ui.fmt_share(reason.expected)
        return f"{title} {observed} vs {expected} baseline"
    return (
        f"{title} {reason.observed:,.0f} vs {reason.expected:,.0f} expected ({reason.ratio:.1f}x)"
    )


def _alert_card(s: Settings, alert: Alert, user: str) -> None:
    with st.container(border=True, key=widget_key("alert", alert.id)):
        head, buttons = st.columns([5, 2])
        with head:
            st.markdown(
                f"#### {SEVERITY_ICONS.get(alert.severity, '')} {html.escape(alert.watch_name)} "
                f"· {alert.severity} · {STATE_TITLES[alert.state]}"
            )
            st.caption(
                f"`{alert.id}` · window {ui.fmt_time(alert.window_start)} → "
                f"{ui.fmt_time(alert.window_end)} · opened {ui.fmt_time(alert.created_at)}"
                + (f" · acknowledged by {alert.acknowledged_by}" if alert.acknowledged_by else "")
                + (f" · resolved {ui.fmt_time(alert.resolved_at)}" if alert.resolved_at else "")
            )
        with buttons:
            if alert.state == "firing":
                st.button(
                    "Acknowledge",
                    key=widget_key("ack", alert.id),
                    type="primary",
                    disabled=not ui.can("acknowledge"),
                    on_click=_act,
                    args=(s, "ack", alert.id, user),
                )
            if alert.state != "resolved":
                st.button(
                    "Resolve",
                    key=widget_key("resolve", alert.id),
                    disabled=not ui.can("resolve"),
                    on_click=_act,
                    args=(s, "resolve", alert.id, user),
                )
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Negative share", ui.fmt_share(alert.negative_share))
        m2.metric("Baseline", ui.fmt_share(alert.baseline_share))
        m3.metric("Posts in window", f"{alert.volume:,}")
        m4.metric("Score", f"{alert.score:.2f}")
        if alert.reasons:
            st.markdown("**What surged:** " + " · ".join(_reason(r) for r in alert.reasons))
        if alert.top_terms:
            st.markdown("**Top terms:** " + " ".join(f"`{t}`" for t in alert.top_terms))
        if alert.sample_posts:
            with st.expander(f"Sample posts ({len(alert.sample_posts)})", expanded=True):
                for post in alert.sample_posts:
                    text = str(post.get("text", ""))
                    terms = post.get("explanation") or alert.top_terms
                    label = post.get("label")
                    st.markdown(
                        f"<div class='sample-post'>{highlight(text, terms, label)}"
                        + (f" <small>({html.escape(str(label))})</small>" if label else "")
                        + "</div>",
                        unsafe_allow_html=True,
                    )
        _deliveries(s, alert)


def render() -> None:
    s = data.settings()
    user = ui.current_user()
    st.title("Alerts")
    flash = st.session_state.pop("alerts_flash", None)
    if flash:
        (st.success if flash[0] == "success" else st.error)(flash[1])
    c1, c2 = st.columns([3, 2])
    states = c1.pills(
        "State",
        list(STATE_TITLES),
        selection_mode="multi",
        default=["firing", "acknowledged"],
        format_func=STATE_TITLES.get,
        key="al_states",
    )
    watch_names = {w.id: w.name for w in data.watches(s)}
    watch = c2.selectbox(
        "Watch",
        ["(all)", *sorted(watch_names)],
        key="al_watch",
        format_func=lambda w: watch_names.get(w, w),
    )
    shown = [
        a
        for a in data.alerts(s, tuple(states or ()), limit=200)
        if watch == "(all)" or a.watch_id == watch
    ]
    counts = {state: 0 for state in STATE_TITLES}
    for a in data.alerts(s, tuple(STATE_TITLES), limit=500):
        counts[a.state] += 1
    st.caption(" · ".join(f"{STATE_TITLES[k]}: {v}" for k, v in counts.items()))
    if not shown:
        st.info("No alerts in the selected states.")
    for alert in shown:
        _alert_card(s, alert, user)


if __name__ == "__main__":
    render()
