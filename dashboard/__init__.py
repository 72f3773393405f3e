"""Streamlit dashboard for analysts: trends, alerts, drill-down, labeling, watches, model.

Built on ``pipeline`` (which never imports it); started by ``opinion dashboard``.
"""
