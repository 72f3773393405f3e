"""Settings in sections: one per concern, the detector's defaults as a nested
``DetectorParams`` read from the unchanged ``OPINION_DETECTOR_<NAME>`` variables, training's
fields only in ``TrainingSettings``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.config import SECTIONS, DetectorParams, Settings, settings_error_line
from pipeline.config.detector import DetectionSettings
from training.settings import TrainingSettings, with_training


def test_sections_partition_the_settings() -> None:
    owned = [name for _, section in SECTIONS for name in section.model_fields]
    assert len(owned) == len(set(owned)), "a field belongs to one section"
    assert set(owned) == set(Settings.model_fields)
    assert not [name for name in Settings.model_fields if name.startswith("training_")]


def test_detector_section_is_detector_params(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DetectionSettings.model_fields["detector"].annotation is DetectorParams
    monkeypatch.setenv("OPINION_DETECTOR_MIN_VOLUME", "30")
    monkeypatch.setenv("opinion_detector_kinds", '["VOLUME", " negative_share"]')
    monkeypatch.setenv("OPINION_DETECTOR_INTERVAL_S", "0.5")  # the live driver's own field
    monkeypatch.setenv("OPINION_DETECTOR_LATENESS_S", "7")
    settings = Settings(_env_file=None)
    assert settings.detector.min_volume == 30
    assert settings.detector.kinds == ("volume", "negative_share")
    assert (settings.detector_interval_s, settings.detector_lateness_s) == (0.5, 7.0)
    assert settings.detector.fire_after == DetectorParams().fire_after


def test_detector_variables_survive_to_env(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None, detector={"min_volume": 5, "z_threshold": 2.5})
    env = settings.to_env()
    assert env["OPINION_DETECTOR_MIN_VOLUME"] == "5" and "OPINION_DETECTOR" not in env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings(_env_file=None) == settings


def test_invalid_detector_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPINION_DETECTOR_MIN_VOLUME", "-1")
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    line = settings_error_line(caught.value)
    assert line.startswith("invalid setting OPINION_DETECTOR_MIN_VOLUME:"), line


def test_training_settings_extend_the_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPINION_TRAINING_LR", "3e-5")
    monkeypatch.setenv("OPINION_APP_ID", "from-env")
    core = Settings(_env_file=None, app_id="core-app", detector={"min_volume": 9})
    assert not hasattr(core, "training_lr")
    assert TrainingSettings(_env_file=None).training_lr == 3e-5
    extended = with_training(core, training_max_steps=7)
    assert (extended.app_id, extended.detector.min_volume) == ("core-app", 9)
    assert extended.training_max_steps == 7
    assert extended.training_lr == 3e-5  # the environment's, as `opinion train` reads it
