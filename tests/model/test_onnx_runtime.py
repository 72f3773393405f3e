"""The ONNX export of a checkpoint scores like torch, and the loader uses it only on CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")  # build-time only (the [train] extra)

from pipeline.config import Settings
from pipeline.model.loader import load_model
from pipeline.model.onnx_runtime import (
    META_PRECISION,
    ONNX_FILES,
    OnnxClassifier,
    StaleExport,
    onnx_choice,
)
from pipeline.model.transformer import TransformerClassifier
from tests.faults.tiny_model import build_tiny_checkpoint
from training.export_onnx import export_checkpoint

TEXTS = [
    "I love this so much!!",
    "worst service ever, never again @user http://x.y",
    "ok",
    "",
    "The meeting moved to 5pm tomorrow in the main hall; bring your laptop, the notes "
    "and the slides from last week, and tell everyone who was not on the call.",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT checkpoint with both exports next to its weights."""
    checkpoint = build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")
    written = export_checkpoint(checkpoint, precision="both")
    assert set(written) == {"int8", "fp32"}
    return checkpoint


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path, device="cpu", **overrides)  # type: ignore[call-arg]


def test_fp32_export_matches_torch(exported: Path) -> None:
    torch_model = TransformerClassifier(exported, device="cpu", quantize="none", batch_size=2)
    onnx_model = OnnxClassifier(exported, onnx_path=exported / ONNX_FILES["fp32"], batch_size=2)
    expected = torch_model.predict_proba(TEXTS)
    got = onnx_model.predict_proba(TEXTS)
    assert got.shape == (len(TEXTS), 3)
    assert np.abs(got - expected).max() < 1e-3
    assert onnx_model.describe()["precision"] == "float32"


def test_int8_export_is_close_and_labelled(exported: Path) -> None:
    onnx_model = OnnxClassifier(exported, num_threads=1)  # int8 is found first
    assert onnx_model.onnx_path.name == ONNX_FILES["int8"]
    assert onnx_model.metadata[META_PRECISION] == "int8-dynamic" and onnx_model.quantized
    probs = onnx_model.predict_proba(TEXTS)
    assert probs.sum(axis=1) == pytest.approx(np.ones(len(TEXTS)), abs=1e-5)
    reference = TransformerClassifier(exported, device="cpu", quantize="none").predict_proba(TEXTS)
    assert np.abs(probs - reference).max() < 0.1
    assert onnx_model.predict_proba([]).shape == (0, 3)


def test_choice_follows_device_precision_and_runtime(exported: Path, tmp_path: Path) -> None:
    assert onnx_choice(exported, device="cpu") == exported / ONNX_FILES["int8"]
    assert onnx_choice(exported, device="cpu", quantize="none") == exported / ONNX_FILES["fp32"]
    assert onnx_choice(exported, device="cuda") is None
    assert onnx_choice(exported, device="cpu", runtime="torch") is None
    bare = tmp_path / "bare"
    bare.mkdir()
    assert onnx_choice(bare, device="cpu") is None
    with pytest.raises(FileNotFoundError):
        onnx_choice(bare, device="cpu", runtime="onnx")


def test_loader_uses_onnx_only_when_exported(exported: Path, tmp_path: Path) -> None:
    model, card = load_model(exported, _settings(tmp_path))
    assert isinstance(model, OnnxClassifier) and card.version == model.card.version
    plain = tmp_path / "plain"
    shutil.copytree(exported, plain, ignore=shutil.ignore_patterns("*.onnx"))
    model, _ = load_model(plain, _settings(tmp_path))
    assert isinstance(model, TransformerClassifier)


def test_stale_export_falls_back_to_torch(exported: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    retrained = tmp_path / "retrained"
    shutil.copytree(exported, retrained)
    model = AutoModelForSequenceClassification.from_pretrained(str(retrained))
    with torch.no_grad():
        model.classifier.bias.add_(0.5)  # "retrained" in place: the export is now stale
    model.save_pretrained(str(retrained))
    with pytest.raises(StaleExport):
        OnnxClassifier(retrained)
    model, _ = load_model(retrained, _settings(tmp_path))
    assert isinstance(model, TransformerClassifier)
