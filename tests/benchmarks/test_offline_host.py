"""The offline-host bundle packs the model losslessly and notices a corrupted one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from benchmarks.offline_host.pack import pack_model
from benchmarks.offline_host.unpack import unpack_model


def _model(path: Path) -> bytes:
    rng = np.random.default_rng(7)
    save_file(
        {
            "w": rng.standard_normal((64, 48)).astype(np.float16),
            "b": rng.standard_normal(48).astype(np.float16),
        },
        str(path),
    )
    return path.read_bytes()


def test_the_model_unpacks_to_the_same_bytes(tmp_path: Path) -> None:
    original = _model(tmp_path / "model.safetensors")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    pack_model(tmp_path / "model.safetensors", blobs)
    assert sorted(p.name for p in blobs.iterdir()) == [
        "en.head",
        "en.p0.xz",
        "en.p1.xz",
        "sha256.txt",
    ]
    assert unpack_model(blobs) == original


def test_a_corrupted_plane_is_refused(tmp_path: Path) -> None:
    _model(tmp_path / "model.safetensors")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    pack_model(tmp_path / "model.safetensors", blobs)
    head = bytearray((blobs / "en.head").read_bytes())
    head[-1] ^= 1  # one bit of the header
    (blobs / "en.head").write_bytes(bytes(head))
    with pytest.raises(SystemExit, match="did not unpack"):
        unpack_model(blobs)
