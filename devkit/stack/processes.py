"""Start detached server processes and stop exactly those (by PID and command line)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ManagedProcess:
    """A process we started: enough to find it again and to be sure it is ours."""

    name: str
    pid: int
    create_time: float
    cmdline: list[str]
    log: str
    port: int
    env: dict[str, str] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def is_running(self) -> bool:
        """Alive and still the same process (PIDs get reused): its start time matches, or
        its command line still names our program (psutil derives start times from the boot
        time, which a stepped clock shifts; a stack judged dead would be orphaned)."""
        try:
            proc = psutil.Process(self.pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            if abs(proc.create_time() - self.create_time) < 1.0:
                return True
            program = Path(self.cmdline[0]).name if self.cmdline else ""
            return bool(program) and program in " ".join(proc.cmdline())
        except psutil.Error:
            return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def start_detached(
    name: str, cmd: list[str], *, log_dir: Path, port: int, env: dict[str, str] | None = None
) -> ManagedProcess:
    """Start ``cmd`` in its own session (survives our exit), output to ``log_dir/name.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    create_time = psutil.Process(proc.pid).create_time()
    return ManagedProcess(name, proc.pid, create_time, cmd, str(log_path), port, env)


def stop(process: ManagedProcess, timeout_s: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns True if it was running."""
    if not process.is_running():
        return False
    proc = psutil.Process(process.pid)
    with contextlib.suppress(psutil.Error):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.Error):
            proc.kill()
            proc.wait(5)
    except psutil.Error:
        pass
    return True


def log_tail(process: ManagedProcess, lines: int = 15) -> str:
    try:
        return "\n".join(Path(process.log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
