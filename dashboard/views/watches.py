"""Watches: create, edit, enable or disable the analysts' keyword queries (and their
spike-detector thresholds)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from dashboard import data, ui
from pipeline.schemas import ALERT_KINDS
from pipeline.watches.model import Watch

NEW = "(new watch)"
THRESHOLDS: tuple[tuple[str, str, type], ...] = (
    ("z_threshold", "Robust z threshold", float),
    ("min_delta", "Min. rise over baseline (share)", float),
    ("min_volume", "Min. posts per bucket", int),
    ("fire_after", "Bad buckets to fire", int),
    ("resolve_after", "Calm buckets to resolve", int),
)
KIND_TITLES = {
    "negative_share": "Negative share rises",
    "negative_volume": "Negative posts surge",
    "volume": "Mention spike (all posts)",
}
QUERY_HELP = (
    'Terms, "quoted phrases", AND / OR / NOT, parentheses, trailing * for prefixes; '
    'case-insensitive. Example: "acme air" OR #acmeair NOT ad'
)


def _split(text: str) -> list[str] | None:
    items = [x.strip().lower() for x in text.split(",") if x.strip()]
    return items or None


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'watch'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def _table(watches: list[Watch]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Id": w.id,
                "Name": w.name,
                "Query": w.query,
                "Languages": ", ".join(w.languages or []) or "all",
                "Sources": ", ".join(w.sources or []) or "all",
                "Enabled": "yes" if w.enabled else "no",
                "Thresholds": ", ".join(f"{k}={v}" for k, v in (w.detector or {}).items())
                or "defaults",
            }
            for w in watches
        ]
    )


def _reset_form() -> None:
    """Forget the editor's widget values so they show the stored watch again."""
    for key in [k for k in st.session_state if str(k).startswith("wf_")]:
        del st.session_state[key]


def _editor(existing: Watch | None) -> None:
    s = data.settings()
    sfx = existing.id if existing else "new"
    with st.form(f"watch-form-{sfx}"):
        c1, c2 = st.columns(2)
        watch_id = c1.text_input(
            "Id (slug)",
            value=existing.id if existing else "",
            disabled=existing is not None,
            key=f"wf_id_{sfx}",
            placeholder="acme-air",
        )
        name = c2.text_input("Name", value=existing.name if existing else "", key=f"wf_name_{sfx}")
        query = st.text_input(
            "Query", value=existing.query if existing else "", help=QUERY_HELP, key=f"wf_q_{sfx}"
        )
        c3, c4, c5 = st.columns([2, 2, 1])
        langs = c3.text_input(
            "Languages (comma-separated; empty = all)",
            value=", ".join(existing.languages or []) if existing else "en",
            key=f"wf_l_{sfx}",
        )
        sources = c4.multiselect(
            "Sources (none = all)",
            ["social", "news"],
            default=list(existing.sources or []) if existing else [],
            key=f"wf_s_{sfx}",
        )
        enabled = c5.checkbox(
            "Enabled", value=existing.enabled if existing else True, key=f"wf_e_{sfx}"
        )
        description = st.text_input(
            "Description", value=existing.description if existing else "", key=f"wf_d_{sfx}"
        )
        st.markdown("**Spike-detector thresholds** (empty = the global default)")
        overrides: dict[str, Any] = dict((existing.detector or {}) if existing else {})
        kinds = st.multiselect(
            "Surges that raise alerts",
            list(ALERT_KINDS),
            default=list(overrides.get("kinds") or s.detector.kinds),
            format_func=KIND_TITLES.__getitem__,
            key=f"wf_k_{sfx}",
            help="A mention spike (volume) alone is low severity: seen on the dashboard and "
            "the alerts topic, not paged.",
        )
        if not kinds or set(kinds) == set(s.detector.kinds):
            overrides.pop("kinds", None)
        else:
            overrides["kinds"] = [k for k in ALERT_KINDS if k in kinds]
        cols = st.columns(len(THRESHOLDS))
        for col, (field, title, kind) in zip(cols, THRESHOLDS, strict=True):
            default = getattr(s.detector, field)
            current = overrides.get(field)
            value = col.number_input(
                title,
                value=kind(current) if current is not None else None,
                min_value=0 if kind is int else 0.0,
                step=1 if kind is int else 0.05,
                placeholder=f"default {default}",
                key=f"wf_t_{field}_{sfx}",
            )
            if value is None:
                overrides.pop(field, None)
            else:
                overrides[field] = kind(value)
        submitted = st.form_submit_button(
            "Save watch", type="primary", disabled=not ui.can("edit_watches")
        )
    if not submitted:
        return
    if not ui.authorize("edit_watches"):
        st.error(ui.denied("edit_watches"))
        return
    try:
        watch = Watch(
            id=(existing.id if existing else watch_id.strip()),
            name=name.strip() or watch_id.strip(),
            query=query.strip(),
            languages=_split(langs),
            sources=sources or None,  # type: ignore[arg-type]
            enabled=enabled,
            description=description.strip(),
            detector=overrides or None,
        )
    except ValidationError as exc:
        st.error(f"Not saved: {_errors(exc)}")
        return
    if existing is None and any(w.id == watch.id for w in data.watches(s)):
        st.error(f"Not saved: a watch {watch.id!r} exists already; pick it above to edit it.")
        return
    data.save_watch(s, watch)
    _reset_form()
    st.session_state["wt_flash"] = f"Saved watch {watch.id}."
    st.session_state["wt_pick_next"] = watch.id
    st.rerun()


def _broken(broken: dict[str, str]) -> None:
    """Watches workers skip (they match no post): say so, with the reason."""
    if not broken:
        return
    st.warning(
        f"{len(broken)} broken watch(es) in Redis match no posts until fixed: save a valid "
        "watch with the same id to replace one, or remove it (`opinion watches remove ID`)."
    )
    st.table(pd.DataFrame({"Id": list(broken), "Error": list(broken.values())}).set_index("Id"))


def render() -> None:
    s = data.settings()
    st.title("Watches")
    if not ui.can("edit_watches"):
        st.info(ui.denied("edit_watches"))
    flash = st.session_state.pop("wt_flash", None)
    if flash:
        st.success(flash)
    watches = data.watches(s)
    _broken(data.broken_watches(s))
    if watches:
        st.table(_table(watches).set_index("Id"))
    else:
        st.info("No watches yet: create one below (or `opinion watches seed FILE`).")
    by_id = {w.id: w for w in watches}
    if "wt_pick_next" in st.session_state:  # select a just-saved watch (before the widget exists)
        st.session_state["wt_pick"] = st.session_state.pop("wt_pick_next")
    pick = st.selectbox("Edit", [NEW, *by_id], key="wt_pick")
    existing = by_id.get(pick)
    if existing is not None:
        label = "Disable this watch" if existing.enabled else "Enable this watch"
        toggled = st.button(
            label, key=f"wt_toggle_{existing.id}", disabled=not ui.can("edit_watches")
        )
        if toggled and not ui.authorize("edit_watches"):
            st.error(ui.denied("edit_watches"))
        elif toggled:
            data.set_watch_enabled(s, existing.id, not existing.enabled)
            _reset_form()
            st.session_state["wt_flash"] = (
                f"Watch {existing.id} {'disabled' if existing.enabled else 'enabled'}."
            )
            st.rerun()
    _editor(existing)


if __name__ == "__main__":
    render()
