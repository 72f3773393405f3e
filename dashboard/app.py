"""Streamlit entry point (``opinion dashboard`` runs ``streamlit run`` on this file).

Checks access first (an account's sign-in or a trusted auth-proxy header; see
``dashboard.ui.signed_in_user``), then hands over to the page chosen in the navigation
(``dashboard/views/*.py``). Each page shows or disables its actions by the user's role
(``ui.can``) and its action callbacks check the role again (``ui.authorize``).

The page scripts live in ``views/``, not ``pages/``: a ``pages/`` folder beside the entry
script switches Streamlit to its older multipage mode until ``st.navigation`` first runs, in
which a request for a page URL runs that page directly, without this file's login gate.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import data, ui

VIEWS = Path(__file__).resolve().parent / "views"
PAGE_SPECS = (
    ("overview.py", "Overview", ":material/monitoring:"),
    ("alerts.py", "Alerts", ":material/notifications_active:"),
    ("drilldown.py", "Drill-down", ":material/manage_search:"),
    ("labeling.py", "Labeling", ":material/label:"),
    ("watches.py", "Watches", ":material/visibility:"),
    ("model.py", "Model", ":material/model_training:"),
)


def main() -> None:
    st.set_page_config(
        page_title="Opinion monitor", page_icon=":material/monitoring:", layout="wide"
    )
    settings = data.settings()
    user = ui.signed_in_user(settings)
    pages = [
        st.Page(VIEWS / file, title=title, icon=icon, default=i == 0)
        for i, (file, title, icon) in enumerate(PAGE_SPECS)
    ]
    # Register the pages even before sign-in (hidden, never run), so that a requested page
    # URL survives the login; only nav.run() executes a page.
    nav = st.navigation(pages, position="sidebar" if user else "hidden")
    if user is None:
        ui.login_screen(settings)
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role})")
        if ui.current_mode(settings) == "password":
            st.button("Sign out", key="logout", on_click=ui.sign_out)
    with ui.data_errors():
        nav.run()


if __name__ == "__main__":
    main()
