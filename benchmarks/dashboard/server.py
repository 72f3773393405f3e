"""The processes under test: a private embedded stack and the real ``opinion dashboard``,
and a meter of the dashboard server's CPU time."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from dashboard.cli import APP, streamlit_argv
from devkit.browser import Dashboard, dashboard_command, serve
from devkit.stack import stack_down, stack_up
from devkit.stack.processes import free_port
from pipeline.config import Settings

FLOOR_APP = Path(__file__).with_name("floor_app.py")


@contextlib.contextmanager
def private_stack() -> Iterator[Settings]:
    """A broker and Redis of their own in a temporary state dir; yields their settings."""
    state_dir = Path(tempfile.mkdtemp(prefix="opinion-dash-bench-"))
    own = Settings(_env_file=None, state_dir=state_dir, kafka_bootstrap=None, redis_url=None)
    try:
        state = stack_up(own)
        yield own.model_copy(
            update={"kafka_bootstrap": state.kafka_bootstrap, "redis_url": state.redis_url}
        )
    finally:
        with contextlib.suppress(Exception):
            stack_down(own)
        shutil.rmtree(state_dir, ignore_errors=True)


def dashboard_server(settings: Settings) -> contextlib.AbstractContextManager[Dashboard]:
    """``opinion dashboard --port N`` (it ``exec``s into Streamlit: same pid) on loopback."""
    port = free_port()
    return serve(dashboard_command(port), settings, port, settings.state_dir / "dashboard.log")


def floor_server(settings: Settings) -> contextlib.AbstractContextManager[Dashboard]:
    """``floor_app.py`` served exactly as the dashboard is (same launcher and options)."""
    port = free_port()
    command = streamlit_argv(settings.model_copy(update={"dashboard_port": port}))
    command[command.index(str(APP))] = str(FLOOR_APP)
    return serve(command, settings, port, settings.state_dir / "floor.log")


def _process_cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live and reaped children."""
    proc = psutil.Process(pid)
    total = _process_cpu(proc)
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += _process_cpu(child)
    return total


def driver_cpu_seconds(server_pid: int) -> float:
    """CPU seconds of this benchmark's own driver: this process and Playwright's (not the
    browsers, not the dashboard server)."""
    total = _process_cpu(psutil.Process())
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.pid != server_pid and "chrom" not in child.name().lower():
                total += _process_cpu(child)
    return total


def browser_cpu_seconds() -> float:
    """CPU seconds of the Chromium processes this benchmark started (under Playwright),
    the renderers they already reaped included."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in child.name().lower():
                total += _process_cpu(child)
    return total


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (every process, every core) since boot."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def wait_for_quiet(max_load: float, max_wait_s: float) -> float:
    """Wait (up to ``max_wait_s``) until the 1-minute load is at most ``max_load``."""
    deadline = time.monotonic() + max_wait_s
    load = load_average()
    while load > max_load and time.monotonic() < deadline:
        print(f"load {load:.2f} > {max_load}: waiting", flush=True)
        time.sleep(20)
        load = load_average()
    return load
