"""Helpers for integration tests that run real worker processes against the embedded stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from pipeline.config import Settings
from pipeline.kafka_io import consumer, producer
from pipeline.stack.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """`opinion worker` in a subprocess with the test's settings; log in the state dir."""

    def __init__(self, settings: Settings, name: str = "worker", **overrides: object) -> None:
        self.port = free_port()
        self.settings = settings.model_copy(update={"worker_web_port": self.port, **overrides})
        self.log_path = Path(settings.state_dir) / f"{name}-{self.port}.log"
        env = {**os.environ, **self.settings.to_env(), "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", "warning"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def metrics(self) -> dict[str, float]:
        """Parsed counters from /metrics."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=3) as resp:
            text = resp.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"worker not ready in {timeout_s}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def produce(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    """Send (topic role, key, value) triples; returns how many were acknowledged."""
    client = producer(settings)
    futures = [
        client.send(settings.topic(role), value=value, key=key)  # type: ignore[arg-type]
        for role, key, value in messages
    ]
    client.flush(60)
    client.close()
    return sum(f.succeeded() for f in futures)


def consume_all(
    settings: Settings,
    role: str,
    *,
    until: Callable[[list[dict]], bool],
    timeout_s: float = 180,
) -> list[dict]:
    """Read a topic from the start (own group) until ``until(messages)`` or timeout."""
    group = consumer(settings, settings.topic(role), group_id=None)  # type: ignore[arg-type]
    out: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(out):
            for records in group.poll(timeout_ms=500, max_records=5000).values():
                out.extend(json.loads(r.value) for r in records)
    finally:
        group.close()
    return out
