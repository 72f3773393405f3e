"""Add the CPU torch wheels' hashes listed in ``torch-cpu.txt`` to a lock's torch entry.

``make lock`` runs it after ``uv pip compile``: where the PyTorch CPU index is reachable uv
already lists every wheel's hash; from a local wheel folder it sees only that machine's
wheel, and the image's other architecture (arm64) would then fail ``--require-hashes``.
Usage: ``python requirements/pin_torch.py requirements/torch-cpu.txt LOCK...``
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
ENTRY = re.compile(
    r"^torch==(?P<version>\S+) \\\n(?P<hashes>(?: {4}--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
    re.M,
)


def pinned(text: str) -> tuple[str, list[str]]:
    """(version, hashes) of the torch entry of a requirements text."""
    match = ENTRY.search(text)
    if match is None:
        raise SystemExit("no hashed `torch==` entry found: run uv pip compile --generate-hashes")
    return match["version"], HASH.findall(match["hashes"])


def merge(lock: str, version: str, extra: list[str]) -> str:
    """The lock with ``extra`` hashes added (sorted, deduplicated) to its torch entry."""
    found, hashes = pinned(lock)
    if found != version:
        raise SystemExit(f"lock pins torch=={found}, torch-cpu.txt {version}: regenerate the lock")
    merged = sorted(set(hashes) | set(extra))
    body = " \\\n".join(f"    --hash={h}" for h in merged) + "\n"
    return ENTRY.sub(lambda m: f"torch=={version} \\\n{body}", lock, count=1)


def main(argv: list[str]) -> None:
    source, *locks = argv
    version, extra = pinned(Path(source).read_text())
    for lock in map(Path, locks):
        lock.write_text(merge(lock.read_text(), version, extra))


if __name__ == "__main__":
    main(sys.argv[1:])
