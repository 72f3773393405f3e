"""The dashboard as a subprocess and the headless Chromium that opens it: shared by the
browser tests (``tests/dashboard``) and the dashboard benchmark (``benchmarks/dashboard``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's Chromium (``make browser``), else ``None``."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@dataclass(frozen=True)
class Dashboard:
    """A running dashboard server: its base URL and process id."""

    url: str
    pid: int


def dashboard_command(port: int) -> list[str]:
    """``opinion dashboard --port N`` (it ``exec``s into Streamlit: the same pid)."""
    return [sys.executable, "-m", "pipeline.cli", "dashboard", "--port", str(port)]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited {proc.returncode}: {log.read_text()}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).close()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"dashboard not up within {START_TIMEOUT_S:.0f} s: {log}")
        time.sleep(0.3)


@contextlib.contextmanager
def serve(
    command: list[str], settings: Settings, port: int, log: Path, **env: str
) -> Iterator[Dashboard]:
    """Run ``command`` (a Streamlit server on ``port``) with ``settings`` and ``env`` in its
    environment, output to ``log``; yields it once healthy, stops it afterwards."""
    full_env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1", **env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, log)
            yield Dashboard(url, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
