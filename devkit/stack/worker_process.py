"""One ``opinion worker`` subprocess configured by a ``Settings``, for benchmarks and tests.

The child gets exactly these settings (as ``OPINION_*`` variables; the parent's own
``OPINION_*`` variables are not inherited), its own web port, and a log file in the state dir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devkit.stack.processes import free_port
from pipeline.config import Settings

COUNTED = ("scored", "dead_lettered", "duplicates")
"""Counters whose sum is the number of posts a worker fully handled."""


class WorkerProcess:
    """``opinion worker`` in a subprocess.

    ``overrides`` replace settings; ``env`` adds environment variables (e.g. torch threads);
    ``loglevel`` is the worker's ``--loglevel`` (None: the settings' ``log_level``); ``cwd``
    defaults to the state dir."""

    def __init__(
        self,
        settings: Settings,
        name: str = "worker",
        *,
        loglevel: str | None = "warning",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        **overrides: object,
    ) -> None:
        self.port = free_port()
        self._processed = 0.0
        self._model_s = 0.0
        self.settings = settings.model_copy(update={"worker_web_port": self.port, **overrides})
        self.log_path = Path(settings.state_dir) / f"{name}-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("OPINION_")}
        environ |= (env or {}) | self.settings.to_env() | {"PYTHONUNBUFFERED": "1"}
        level = [] if loglevel is None else ["--loglevel", loglevel]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker", *level],
            cwd=cwd or settings.state_dir,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def metrics(self, timeout_s: float = 10) -> dict[str, float]:
        """Samples of ``/metrics`` summed over their labels (histogram buckets left out);
        a counter with no samples yet reads 0."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode()
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            if family.type == "counter":
                values.setdefault(f"{family.name}_total", 0.0)
            for sample in family.samples:
                if not sample.name.endswith("_bucket"):
                    values[sample.name] = values.get(sample.name, 0.0) + sample.value
        return values

    def processed(self) -> float:
        """Posts fully handled: scored, dead-lettered or counted as duplicates (the last
        value read when the worker is too busy to answer in time)."""
        try:
            m = self.metrics()
        except OSError:
            return self._processed
        self._processed = sum(m.get(f"opinion_{k}_total", 0.0) for k in COUNTED)
        self._model_s = m.get("opinion_model_latency_seconds_sum", 0.0)
        return self._processed

    def model_seconds(self) -> float:
        """Seconds spent in model calls so far (as of the last ``processed``)."""
        return self._model_s

    def wait_ready(self, timeout_s: float = 180) -> None:
        """Until ``/metrics`` answers; raises with the log's tail if the worker exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.metrics(timeout_s=3)
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"worker not ready in {timeout_s:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout_s``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
