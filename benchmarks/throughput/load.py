"""How much CPU *other* processes used during a measurement (a shared machine is noisy).

``ForeignLoad`` reads the machine's busy time (``/proc/stat``) and the CPU time of the
processes under test (``psutil``) at start and stop; the difference, per second of wall time,
is the number of cores that something else was using. Every bench number carries it, so a
reader can tell a clean measurement (~0) from one taken while, e.g., tests ran (> 0.5).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import psutil

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_s() -> float | None:
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _HZ


def _own_cpu_s(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class ForeignLoad:
    """``start()``, run the measurement, ``cores()``: cores used by other processes."""

    def __init__(self, pids: Iterable[int] = ()) -> None:
        self.pids = {os.getpid(), *pids}

    def start(self) -> ForeignLoad:
        self._t = time.monotonic()
        self._busy = _machine_busy_s()
        self._own = _own_cpu_s(self.pids)
        return self

    def cores(self) -> float | None:
        busy = _machine_busy_s()
        if busy is None or self._busy is None:
            return None
        elapsed = max(1e-6, time.monotonic() - self._t)
        own = _own_cpu_s(self.pids) - self._own
        return round(max(0.0, (busy - self._busy - own) / elapsed), 2)
