"""Model: the version in use and its metrics, the registry's versions and the last retrain."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data

ORIGINS = {
    "registry": "the registry's current version",
    "OPINION_MODEL_DIR": "OPINION_MODEL_DIR",
    "bundled": "the bundled model (nothing promoted in the registry yet)",
    "checkpoint": "a checkpoint directory",
}
KEY_METRICS = ("accuracy", "macro_f1", "model_accuracy", "model_macro_f1", "fused_macro_f1")


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics dict, keyed by dotted path."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, f"{path}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The accuracy / macro-F1 figures among the metrics (first found per name)."""
    found: dict[str, float] = {}
    for path, value in flatten(metrics).items():
        name = path.rsplit(".", 1)[-1]
        if name in KEY_METRICS and name not in found:
            found[name] = value
    return found


def render() -> None:
    s = data.settings()
    st.title("Model")
    info = data.model_overview(s)
    card = info["card"] or {}
    version = card.get("version") or info["current"] or "unknown"
    c1, c2, c3 = st.columns([2, 1, 1])
    c1.metric("Version in use", version)
    c2.metric("Last retrain", (info["last_retrain"] or "never")[:19].replace("T", " "))
    c3.metric("Registry versions", len(info["versions"]))
    st.caption(
        f"Loaded from {ORIGINS.get(info['origin'], info['origin'])}: `{info['path']}` · "
        f"registry `{info['registry_dir']}`"
        + (f" · rollback target: `{info['previous']}`" if info["previous"] else "")
    )
    if card:
        st.subheader("Metrics")
        tops = headline(card.get("metrics") or {})
        if tops:
            cols = st.columns(len(tops))
            for col, (name, value) in zip(cols, tops.items(), strict=True):
                col.metric(name.replace("_", " "), f"{value:.3f}")
        flat = flatten(card.get("metrics") or {})
        if flat:
            with st.expander("All metrics"):
                st.table(pd.DataFrame({"metric": list(flat), "value": list(flat.values())}))
        st.markdown(
            f"**Base model:** {card.get('base_model', '?')} · **languages:** "
            f"{', '.join(card.get('languages') or [])} · **created:** {card.get('created_at', '?')}"
        )
        data_lines = card.get("training_data") or []
        if isinstance(data_lines, str):
            data_lines = [data_lines]
        if data_lines:
            st.markdown("**Training data:**\n" + "\n".join(f"- {d}" for d in data_lines))
        if card.get("reproduce"):
            st.code(card["reproduce"], language="bash")
    else:
        st.warning("The model in use has no model card.")

    st.subheader("History of versions")
    if not info["versions"]:
        st.info("No retrained versions in the registry yet (`opinion train` publishes them).")
        return
    rows = []
    for v in reversed(info["versions"]):
        tops = headline(v["metrics"])
        rows.append(
            {
                "Version": v["version"] + (" (current)" if v["current"] else ""),
                "Created": (v["created_at"] or "?")[:19].replace("T", " "),
                **{k.replace("_", " "): round(val, 4) for k, val in tops.items()},
            }
        )
    st.table(pd.DataFrame(rows).set_index("Version"))


if __name__ == "__main__":
    render()
