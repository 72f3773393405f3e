"""The floor of a page load: a Streamlit page with a title and nothing else, served with the
dashboard's own options (``concurrency.py --floor``). What its sessions cost is Streamlit's
and the browser's, whatever the dashboard does."""

import streamlit as st

st.title("Overview")
