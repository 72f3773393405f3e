"""`opinion worker`: documented options, and a clear, fast error when the broker is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from devkit.stack.processes import free_port


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "worker", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_documents_every_option() -> None:
    out = _run("--help").stdout
    for option in ("--web-port", "--batch-size", "--batch-wait", "--model-dir",
                   "--watches-file", "--loglevel"):  # fmt: skip
        assert option in out
    assert "OPINION_KAFKA_BOOTSTRAP" in out


def test_missing_broker_is_a_clear_error_within_seconds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "OPINION_STATE_DIR": str(tmp_path),
        "OPINION_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing listens there
        "OPINION_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    started = time.monotonic()
    result = _run(env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "No Kafka broker answers" in result.stderr and "opinion stack up" in result.stderr
    assert elapsed < 45, f"took {elapsed:.0f}s"
