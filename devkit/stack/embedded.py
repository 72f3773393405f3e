"""``opinion stack up|down|status``: run the embedded broker and Redis in the background.

State (addresses, PIDs) goes to ``<state_dir>/stack.json``; every other command reads the
addresses from there unless ``OPINION_KAFKA_BOOTSTRAP`` / ``OPINION_REDIS_URL`` point at
real servers, in which case those services are not started here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.stack.binaries import moto_server_command, redis_binary, tansu_binary
from devkit.stack.processes import (
    ManagedProcess,
    free_port,
    log_tail,
    port_in_use,
    start_detached,
    stop,
    wait_for_port,
)
from pipeline.config import Settings
from pipeline.kafka_io import broker_healthy, ensure_topics
from pipeline.redis_io import redact_url, redis_healthy

S3_BUCKET = "tansu"
S3_ENV = {
    "AWS_ALLOW_HTTP": "true",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class StackError(RuntimeError):
    """The stack cannot be started/stopped; the message says why and what to do."""


@dataclass
class StackState:
    """What ``stack.json`` holds."""

    kafka_bootstrap: str
    redis_url: str
    durable: bool = False
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)

    def save(self, path: Path) -> None:
        """Write ``stack.json`` readable by its owner only: an external OPINION_REDIS_URL
        recorded here may carry a password."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.to_json())
        os.chmod(path, 0o600)  # the file may predate this rule

    def to_json(self) -> str:
        data = {
            "kafka_bootstrap": self.kafka_bootstrap,
            "redis_url": self.redis_url,
            "durable": self.durable,
            "started_at": self.started_at,
            "processes": {k: p.to_dict() for k, p in self.processes.items()},
        }
        return json.dumps(data, indent=2)

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls(
            kafka_bootstrap=data["kafka_bootstrap"],
            redis_url=data["redis_url"],
            durable=data.get("durable", False),
            started_at=data.get("started_at", 0.0),
            processes={k: ManagedProcess(**v) for k, v in data.get("processes", {}).items()},
        )

    def running(self) -> dict[str, ManagedProcess]:
        return {k: p for k, p in self.processes.items() if p.is_running()}


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / "stack.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StackError(
                "Another `opinion stack` command is running on this state dir; wait for it."
            ) from exc
        yield


def _pick_port(requested: int, what: str, env_name: str) -> int:
    if requested == 0:
        return free_port()
    if port_in_use(requested):
        raise StackError(
            f"Port {requested} for {what} is already in use on 127.0.0.1: stop what uses it, "
            f"or choose another port with {env_name} (0 picks a free one)."
        )
    return requested


def _await(process: ManagedProcess, timeout_s: float) -> None:
    if not wait_for_port(process.port, timeout_s) or not process.is_running():
        stop(process)
        raise StackError(
            f"{process.name} did not start listening on port {process.port} within "
            f"{timeout_s:.0f}s. Its log ({process.log}) ends with:\n{log_tail(process)}"
        )


def _start_redis(settings: Settings, port: int) -> ManagedProcess:
    """Valkey/Redis with AOF on; options (password included) in a 0600 config file, so no
    secret appears in the process list or in stack.json."""
    data_dir = (settings.state_dir / "redis").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "redis.conf"
    lines = [
        "bind 127.0.0.1",
        f"port {port}",
        f'dir "{data_dir}"',
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize no",
    ]
    if settings.redis_password is not None:
        lines.append(f'requirepass "{settings.redis_password.get_secret_value()}"')
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    cmd = [str(redis_binary()), str(conf)]
    return start_detached("redis", cmd, log_dir=settings.state_dir / "logs", port=port)


def _start_s3(settings: Settings, port: int) -> ManagedProcess:
    cmd = [*moto_server_command(), "-H", "127.0.0.1", "-p", str(port)]
    proc = start_detached("s3", cmd, log_dir=settings.state_dir / "logs", port=port)
    _await(proc, settings.stack_start_timeout_s)
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=S3_BUCKET)
    return proc


def _start_broker(settings: Settings, port: int, s3_port: int | None) -> ManagedProcess:
    url = f"tcp://127.0.0.1:{port}"
    storage = "memory://tansu/" if s3_port is None else f"s3://{S3_BUCKET}/"
    env = None if s3_port is None else {**S3_ENV, "AWS_ENDPOINT": f"http://127.0.0.1:{s3_port}"}
    cmd = [
        str(tansu_binary()), "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", storage,
    ]  # fmt: skip
    return start_detached("kafka", cmd, log_dir=settings.state_dir / "logs", port=port, env=env)


def restart_process(settings: Settings, name: str) -> ManagedProcess:
    """Kill (-9) and restart one managed process on the same port (for fault tests/ops)."""
    state = StackState.load(settings.stack_file)
    if state is None or name not in state.processes:
        raise StackError(f"No managed process {name!r}: is the stack up?")
    old = state.processes[name]
    if old.is_running():
        import psutil

        psutil.Process(old.pid).kill()
        psutil.Process(old.pid).wait(10)
    new = start_detached(
        name, old.cmdline, log_dir=Path(old.log).parent, port=old.port, env=old.env
    )
    _await(new, settings.stack_start_timeout_s)
    state.processes[name] = new
    state.save(settings.stack_file)
    return new


def stack_up(settings: Settings, *, durable: bool = False) -> StackState:
    """Start what is not configured externally, wait for health, create topics, record."""
    with _locked(settings):
        previous = StackState.load(settings.stack_file)
        if previous is not None and previous.running():
            names = ", ".join(f"{n} (pid {p.pid})" for n, p in previous.running().items())
            raise StackError(
                f"The stack is already running from {settings.stack_file}: {names}. "
                "Use `opinion stack status`, or `opinion stack down` first."
            )
        processes: dict[str, ManagedProcess] = {}
        try:
            redis_url = settings.redis_url
            if redis_url is None:
                port = _pick_port(settings.stack_redis_port, "Redis", "OPINION_STACK_REDIS_PORT")
                processes["redis"] = _start_redis(settings, port)
                redis_url = f"redis://127.0.0.1:{port}/0"
            bootstrap = settings.kafka_bootstrap
            if bootstrap is None:
                port = _pick_port(settings.stack_kafka_port, "Kafka", "OPINION_STACK_KAFKA_PORT")
                s3_port = None
                if durable:
                    s3_port = _pick_port(settings.stack_s3_port, "S3", "OPINION_STACK_S3_PORT")
                    processes["s3"] = _start_s3(settings, s3_port)
                processes["kafka"] = _start_broker(settings, port, s3_port)
                bootstrap = f"127.0.0.1:{port}"
            for proc in processes.values():
                _await(proc, settings.stack_start_timeout_s)
            live = settings.model_copy(
                update={"kafka_bootstrap": bootstrap, "redis_url": redis_url}
            )
            if "kafka" in processes:  # one Tansu broker: one replica
                live = live.model_copy(
                    update={"topic_replication_factor": 1, "topic_min_insync_replicas": None}
                )
            _wait_healthy(live)
            ensure_topics(live)
        except BaseException:
            for proc in processes.values():
                stop(proc)
            raise
        state = StackState(bootstrap, redis_url, durable, processes)
        state.save(settings.stack_file)
        _ensure_local_signing_key(settings)
        return state


def _ensure_local_signing_key(settings: Settings) -> None:
    """Give a local stack a label-signing key once (kept across restarts, owner-only), so
    the local dashboard signs labels and `opinion train` verifies them."""
    path = settings.local_signing_key_file
    if settings.label_signing_key is not None or path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))


def _wait_healthy(settings: Settings) -> None:
    deadline = time.monotonic() + settings.stack_start_timeout_s
    while time.monotonic() < deadline:
        if broker_healthy(settings) and redis_healthy(settings):
            return
        time.sleep(0.2)
    raise StackError(
        f"Broker {settings.kafka_bootstrap} / Redis {redact_url(settings.redis_url or '')} not "
        f"healthy within {settings.stack_start_timeout_s:.0f}s; see the logs under "
        f"{settings.state_dir / 'logs'}."
    )


def stack_down(settings: Settings) -> list[str]:
    """Stop exactly the processes ``stack up`` started; returns their names."""
    with _locked(settings):
        state = StackState.load(settings.stack_file)
        if state is None:
            return []
        stopped = [name for name, proc in state.processes.items() if stop(proc)]
        settings.stack_file.unlink(missing_ok=True)
        return stopped


def stack_status(settings: Settings) -> dict[str, Any]:
    """Addresses, topics and per-service health, for humans and ``--json``."""
    state = StackState.load(settings.stack_file)
    try:
        live = settings.model_copy(
            update={
                "kafka_bootstrap": settings.resolved_kafka_bootstrap(),
                "redis_url": settings.resolved_redis_url(),
            }
        )
    except Exception:
        live = None
    kafka_ok = live is not None and broker_healthy(live)
    redis_ok = live is not None and redis_healthy(live)
    processes = state.processes if state else {}

    def service(name: str, ok: bool, address: str | None) -> dict[str, Any]:
        proc = processes.get(name)
        return {
            "healthy": ok,
            "address": address,
            "embedded": proc is not None,
            "pid": proc.pid if proc else None,
            "running": proc.is_running() if proc else None,
        }

    status: dict[str, Any] = {
        "kafka_bootstrap": live.kafka_bootstrap if live else None,
        "redis_url": redact_url(live.redis_url or "") if live else None,
        "durable": state.durable if state else False,
        "topics": {role: spec.name for role, spec in settings.topics().items()},
        "healthy": kafka_ok and redis_ok,
        "kafka": service("kafka", kafka_ok, live.kafka_bootstrap if live else None),
        "redis": service("redis", redis_ok, redact_url(live.redis_url or "") if live else None),
    }
    if "s3" in processes:
        status["s3"] = service("s3", processes["s3"].is_running(), None)
    return status
