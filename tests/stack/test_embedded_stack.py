"""The embedded stack: start, status, refuse a second copy, clear port errors, stop."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from devkit.stack import StackError, stack_down, stack_status, stack_up
from pipeline.config import Settings

pytestmark = pytest.mark.integration


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path, **kw)


def test_up_status_down_leaves_nothing_running(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    state = stack_up(settings)
    pids = [p.pid for p in state.processes.values()]
    try:
        assert set(state.processes) == {"kafka", "redis"}
        report = stack_status(settings)
        assert report["healthy"] is True
        assert report["kafka"]["healthy"] and report["redis"]["healthy"]
        assert report["kafka_bootstrap"] == state.kafka_bootstrap
        assert set(report["topics"]) == {
            "social", "news", "scored", "alerts", "labels", "dead_letter", "model_updates",
        }  # fmt: skip
        with pytest.raises(StackError, match="already running"):
            stack_up(settings)
    finally:
        stopped = stack_down(settings)
    assert sorted(stopped) == ["kafka", "redis"]
    assert not any(
        psutil.pid_exists(pid)
        and psutil.Process(pid).is_running()
        and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        for pid in pids
    )
    assert stack_status(settings)["healthy"] is False
    # The local stack made its label-signing key once: owner-only, kept across restarts,
    # used when OPINION_LABEL_SIGNING_KEY is unset and never over it.
    key_file = settings.local_signing_key_file
    assert key_file.stat().st_mode & 0o777 == 0o600
    local = settings.resolved_label_signing_key()
    assert local is not None and local.get_secret_value() == key_file.read_text()
    explicit = _settings(tmp_path, label_signing_key="an-explicit-signing-key")
    assert explicit.resolved_label_signing_key() == explicit.label_signing_key


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StackError, match=f"Port {port} .* in use"):
            stack_up(_settings(tmp_path, stack_redis_port=port))
    assert not (tmp_path / "stack.json").exists()


def test_cli_status_json(tmp_path: Path) -> None:
    env = {"OPINION_STATE_DIR": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    cli = [sys.executable, "-m", "pipeline.cli", "stack"]
    up = subprocess.run([*cli, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    try:
        status = subprocess.run(
            [*cli, "status", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["kafka"]["healthy"] is True and report["redis"]["healthy"] is True
        again = subprocess.run([*cli, "up"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = subprocess.run([*cli, "down"], env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and "kafka" in down.stdout


def test_redis_password_is_required_and_used(tmp_path: Path) -> None:
    import redis

    from pipeline.redis_io import redis_client

    settings = _settings(tmp_path, redis_password="s3cret-pw")
    state = stack_up(settings)
    try:
        live = settings.model_copy(update={"redis_url": state.redis_url})
        assert redis_client(live).ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(state.redis_url).ping()
        assert "s3cret-pw" not in (tmp_path / "stack.json").read_text()
    finally:
        stack_down(settings)
