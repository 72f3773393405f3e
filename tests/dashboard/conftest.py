"""Dashboard fixtures: the app's environment pointed at the session's embedded Valkey/broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit import config as st_config

from pipeline.config import Settings


def _clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture()
def dash_settings(
    fresh_topics: Settings, redis_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings the in-process app (AppTest) reads from ``OPINION_*``; Redis flushed; the
    app sees itself bound to loopback (``bind`` changes that)."""
    settings = fresh_topics.model_copy(update={"model_registry_dir": tmp_path / "models"})
    for name in list(os.environ):
        if name.startswith("OPINION_"):
            monkeypatch.delenv(name)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    _clear_caches()
    bound = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield settings
    st_config.set_option("server.address", bound)
    _clear_caches()
