"""Labeling: a queue of posts worth labeling (unsure model, lexicon disagreement, alert
samples); each label goes to the labels topic with who and when. Keys 1/2/3 label, S skips."""

from __future__ import annotations

import html

import streamlit as st

from dashboard import data, ui
from dashboard.highlight import probability_bar
from dashboard.labelqueue import QueueItem
from pipeline.config import Settings
from pipeline.schemas import SentimentLabel

SKIPPED_KEY = "lb_skipped"
DONE_KEY = "lb_done"
FLASH_KEY = "lb_flash"
BUTTONS: tuple[tuple[str, SentimentLabel | None, str], ...] = (
    ("Negative", "negative", "1"),
    ("Neutral", "neutral", "2"),
    ("Positive", "positive", "3"),
    ("Skip", None, "S"),
)


def _submit(s: Settings, item: QueueItem, label: SentimentLabel | None, user: str) -> None:
    """Button callback: publish the label (or remember the skip) for this session."""
    if label is not None and not ui.authorize("label"):
        st.session_state[FLASH_KEY] = ("error", ui.denied("label"))
        return
    if label is None:
        st.session_state.setdefault(SKIPPED_KEY, set()).add(item.post_id)
        st.session_state[FLASH_KEY] = ("info", "Skipped.")
        return
    try:  # built from the monitor's own copy of the post, stamped and signed there
        data.publish_label(s, item.post_id, label, user)
    except data.UnknownPost as exc:
        st.session_state[FLASH_KEY] = ("error", f"Label not sent: {exc}.")
        return
    except Exception as exc:  # broker down, timeout: keep the post in the queue
        st.session_state[FLASH_KEY] = ("error", f"Label not sent ({exc!r}); try again.")
        return
    st.session_state[DONE_KEY] = int(st.session_state.get(DONE_KEY, 0)) + 1
    st.session_state[FLASH_KEY] = ("success", f"Labeled {label}: sent to {s.topic('labels')}.")


def _item_html(item: QueueItem) -> str:
    reasons = " ".join(
        f'<span style="border:1px solid #999;border-radius:4px;padding:0 5px;font-size:0.8em">'
        f"{html.escape(r)}</span>"
        for r in item.reasons
    )
    model = html.escape(item.model_label or "?")
    return (
        f'<div class="label-item" data-post-id="{html.escape(item.post_id)}">'
        f'<p style="font-size:1.25em">{html.escape(item.text)}</p>'
        f"<p>{reasons} <small>model: <b>{model}</b> · "
        f"{html.escape(', '.join(item.watch_ids) or 'no watch')} · "
        f"{html.escape(item.lang or '?')} · {html.escape(item.post_id)}</small></p>"
        f"<p>{probability_bar(item.probabilities)}</p></div>"
    )


def render() -> None:
    s = data.settings()
    user = ui.current_user()
    st.title("Labeling")
    if not ui.can("label"):
        st.info(ui.denied("label"))
    threshold = st.slider(
        "Low confidence below",
        0.40,
        0.95,
        0.60,
        step=0.05,
        key="lb_threshold",
        help="Posts whose top probability is under this are queued.",
    )
    skipped: set[str] = st.session_state.setdefault(SKIPPED_KEY, set())
    queue = data.label_queue(s, threshold=threshold, skipped=skipped)
    done = int(st.session_state.get(DONE_KEY, 0))
    mine, everyone = data.label_progress(s, user)
    total = done + len(queue)
    st.progress(
        done / total if total else 1.0,
        text=f"{done} labeled this session, {len(queue)} left in the queue",
    )
    st.caption(
        f"Labels by you ({user}): {mine} · by everyone: {everyone} · skipped: {len(skipped)}"
    )
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        {"success": st.success, "error": st.error, "info": st.info}[flash[0]](flash[1])
    if not queue:
        st.info("Nothing to label right now.")
        return
    item = queue[0]
    with st.container(border=True, key="label-item"):
        st.markdown(_item_html(item), unsafe_allow_html=True)
        cols = st.columns(len(BUTTONS))
        for col, (title, label, key) in zip(cols, BUTTONS, strict=True):
            col.button(
                f"{title} ({key})",
                key=f"lb_{title.lower()}",
                shortcut=key,
                width="stretch",
                type="primary" if label else "secondary",
                disabled=label is not None and not ui.can("label"),
                on_click=_submit,
                args=(s, item, label, user),
            )
    with st.expander(f"Next in the queue ({min(10, len(queue) - 1)} of {len(queue) - 1})"):
        for nxt in queue[1:11]:
            st.markdown(f"- {html.escape(nxt.text[:140])} — *{', '.join(nxt.reasons)}*")


if __name__ == "__main__":
    render()
