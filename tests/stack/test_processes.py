"""Which recorded process is still ours: by start time, or by command line when the clock
(psutil's boot time) has been stepped since it started."""

from __future__ import annotations

import subprocess
import time

import psutil

from devkit.stack.processes import ManagedProcess


def _record(pid: int, create_time: float, cmdline: list[str]) -> ManagedProcess:
    return ManagedProcess("p", pid, create_time, cmdline, log="", port=0)


def test_a_live_process_is_recognised_even_after_a_clock_step() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 5  # under load /proc may still show the parent's args
        while "sleep" not in psutil.Process(child.pid).cmdline() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = psutil.Process(child.pid).create_time()
        assert _record(child.pid, started, ["sleep", "30"]).is_running()
        # Start time shifted (a stepped clock): still ours by its command line...
        assert _record(child.pid, started - 100, ["/usr/bin/sleep", "30"]).is_running()
        # ...but a reused PID running another program is not.
        assert not _record(child.pid, started - 100, ["/x/valkey-server"]).is_running()
    finally:
        child.kill()
        child.wait()
    assert not _record(child.pid, started, ["sleep", "30"]).is_running()
