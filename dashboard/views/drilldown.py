"""Drill-down: a watch's recent posts filtered by label, source, language and time, with the
explanation terms highlighted and the class probabilities."""

from __future__ import annotations

import html
from datetime import timedelta

import streamlit as st

from dashboard import data, ui
from dashboard.highlight import LABEL_COLORS, highlight, probability_bar
from pipeline.schemas import SENTIMENT_LABELS, ScoredPost

TIME_FILTERS: dict[str, int | None] = {
    "any time": None,
    "1 h": 3600,
    "24 h": 86_400,
    "7 d": 604_800,
}
ALL = "(all)"


def post_html(post: ScoredPost) -> str:
    """One post as HTML: label badge, meta line, highlighted text, probability bar."""
    color = LABEL_COLORS.get(post.label, "#888")
    badge = (
        f'<span style="background:{color};color:white;border-radius:4px;padding:1px 6px;'
        f'font-size:0.8em">{post.label}</span>'
    )
    meta = " · ".join(
        html.escape(x)
        for x in (
            post.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            post.source + (f" ({post.source_name})" if post.source_name else ""),
            post.lang,
            ", ".join(post.watch_ids) or "no watch",
            post.model_version,
        )
    )
    title = f"<b>{html.escape(post.title)}</b><br>" if post.title else ""
    terms = ", ".join(html.escape(t) for t in post.explanation) or "none"
    body = highlight(post.text, post.explanation, post.label)
    return (
        f'<div class="post" data-post-id="{html.escape(post.id)}" style="padding:6px 0">'
        f"{badge} <small>{meta}</small><br>{title}{body}"
        f"<br>{probability_bar(post.probabilities)} <small>· terms: {terms}</small></div>"
    )


def render() -> None:
    s = data.settings()
    st.title("Drill-down")
    names = {w.id: w.name for w in data.watches(s)}
    options = [ALL, *sorted(set(names) | set(data.watch_ids_with_data(s)))]
    c1, c2, c3, c4, c5 = st.columns([3, 3, 2, 2, 2])
    watch = c1.selectbox("Watch", options, key="dd_watch", format_func=lambda w: names.get(w, w))
    labels = c2.multiselect("Label", list(SENTIMENT_LABELS), key="dd_labels")
    source = c3.selectbox("Source", [ALL, "social", "news"], key="dd_source")
    lang = c4.text_input("Language", key="dd_lang", placeholder="e.g. en, zh").strip().lower()
    since_label = c5.selectbox("Posted within", list(TIME_FILTERS), key="dd_time")
    limit = st.slider("Posts to show", 10, 200, 50, step=10, key="dd_limit")

    watch_id = None if watch == ALL else watch
    posts = data.recent_posts(
        s,
        watch_id,
        s.recent_posts_per_watch,
        source=None if source == ALL else source,
        lang=lang or None,
    )
    posts = sorted(posts, key=lambda p: p.created_at, reverse=True)  # kept in arrival order
    if labels:
        posts = [p for p in posts if p.label in labels]
    window = TIME_FILTERS[since_label]
    if window is not None:
        cutoff = ui.now_utc() - timedelta(seconds=window)
        posts = [p for p in posts if p.created_at >= cutoff]
    posts = posts[:limit]

    counts = {label: sum(p.label == label for p in posts) for label in SENTIMENT_LABELS}
    st.caption(
        f"{len(posts)} posts (newest first; at most {s.recent_posts_per_watch} are kept per "
        "watch) · " + " · ".join(f"{k} {v}" for k, v in counts.items())
    )
    if not posts:
        st.info("No posts match these filters.")
        return
    st.markdown("<br>".join(post_html(p) for p in posts), unsafe_allow_html=True)


if __name__ == "__main__":
    render()
