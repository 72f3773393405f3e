"""Shared fixtures: one scorer over the bundled models for the whole session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.config import Settings
from pipeline.model import BUNDLED_EN, load_scorer


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state = tmp_path_factory.mktemp("state")
    return Settings(_env_file=None, state_dir=state)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def scorer(settings: Settings):
    return load_scorer(settings, model_dir=BUNDLED_EN)
