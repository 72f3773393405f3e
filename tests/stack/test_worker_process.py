"""WorkerProcess: what the child process gets (unit test: Popen is replaced)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from devkit.stack import worker_process
from pipeline.config import Settings


def test_child_gets_exactly_the_settings_and_its_own_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    class FakePopen:
        def __init__(self, cmd: list[str], **kwargs: Any) -> None:
            seen.update(kwargs, cmd=cmd)

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    settings = Settings(state_dir=tmp_path)
    assert settings.model_dir is None
    monkeypatch.setenv("OPINION_MODEL_DIR", "/from/the/parent/shell")
    monkeypatch.setenv("UNRELATED", "kept")
    worker = worker_process.WorkerProcess(
        settings, "w", env={"OMP_NUM_THREADS": "1"}, batch_max_size=7
    )
    worker.stop()
    env = seen["env"]
    assert "OPINION_MODEL_DIR" not in env  # not inherited: the settings say None
    assert env["UNRELATED"] == "kept" and env["OMP_NUM_THREADS"] == "1"
    assert env["OPINION_BATCH_MAX_SIZE"] == "7"
    assert env["OPINION_WORKER_WEB_PORT"] == str(worker.port) != str(settings.worker_web_port)
    assert seen["cwd"] == tmp_path and seen["cmd"][-3:] == ["worker", "--loglevel", "warning"]
    assert worker.log_path.parent == tmp_path
