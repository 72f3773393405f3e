"""Settings errors, ``--version`` and logging of every command and of a real worker.

An invalid setting is one line naming the variable and what it allows, exit 2, for every
subcommand (in-process ``main``, plus one real subprocess); choice settings take any case;
``OPINION_LOG_LEVEL``/``OPINION_LOG_FORMAT`` reach the worker, whose Faust used to reset them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import typer

from pipeline import cli
from pipeline.config import Settings, get_settings, literal_choices
from pipeline.logging_setup import configure_logging
from tests.harness import WorkerProcess
from training.settings import TrainingSettings

BAD = {"OPINION_BATCH_MAX_SIZE": "abc"}
CHOICE_FIELDS = [
    (name, choice)
    for name, field in TrainingSettings.model_fields.items()
    for choice in literal_choices(field.annotation)
]


def _command_paths() -> list[list[str]]:
    """Every command of ``opinion --help``, and each subcommand of its groups."""
    cli._register_all()
    root = typer.main.get_command(cli.app)
    ctx = typer.Context(root)
    paths: list[list[str]] = []
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        command = root.get_command(ctx, name)  # type: ignore[attr-defined]
        paths.append([name])
        if hasattr(command, "list_commands"):  # a group: typer vendors its own click
            paths += [[name, sub] for sub in command.list_commands(ctx)]
    assert len(paths) > 20, paths
    return paths


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    """``main`` configures the root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def _main(monkeypatch: pytest.MonkeyPatch, argv: list[str], **env: str) -> int:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        cli.main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        get_settings.cache_clear()
    return 0


def _json_or_none(line: str) -> dict[str, str] | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


@pytest.mark.parametrize(("name", "choice"), CHOICE_FIELDS)
def test_choice_settings_take_any_case(
    monkeypatch: pytest.MonkeyPatch, name: str, choice: str
) -> None:
    for given in (choice.lower(), choice.upper(), f" {choice.swapcase()} "):
        monkeypatch.setenv(f"OPINION_{name.upper()}", given)
        assert getattr(TrainingSettings(_env_file=None), name) == choice


def test_every_choice_setting_is_covered() -> None:
    names = {name for name, _ in CHOICE_FIELDS}
    assert {"log_level", "log_format", "kafka_security_protocol", "kafka_sasl_mechanism"} <= names
    assert {"device", "model_quantize", "alert_smtp_tls", "training_conflict_policy"} <= names


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_invalid_setting_is_one_line_and_exit_2_for_every_command(
    unconfigured_cwd: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    path: list[str],
) -> None:
    assert _main(unconfigured_cwd, path, **BAD) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "OPINION_BATCH_MAX_SIZE" in err and "valid integer" in err and "Traceback" not in err


def test_python_m_training_reports_an_invalid_setting_in_one_line(
    unconfigured_cwd: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    from training.__main__ import main as training_main

    unconfigured_cwd.setenv("OPINION_LOG_LEVEL", "verbose")
    unconfigured_cwd.setattr(sys, "argv", ["python -m training", "--dry-run"])
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as exited:
        training_main()
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "OPINION_LOG_LEVEL" in err and "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in err


def test_help_and_version_work_even_with_invalid_settings(
    unconfigured_cwd: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    assert _main(unconfigured_cwd, ["--version"], **BAD) == 0
    assert capsys.readouterr().out.strip() == f"opinion {version('opinion-monitor')}"
    assert _main(unconfigured_cwd, ["worker", "--help"], **BAD) == 0
    assert "--loglevel" in capsys.readouterr().out


def test_min_insync_replicas_above_the_replication_factor_is_refused(
    unconfigured_cwd: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    env = {"OPINION_TOPIC_MIN_INSYNC_REPLICAS": "2"}
    assert _main(unconfigured_cwd, ["topics"], **env) == 2
    err = capsys.readouterr().err
    assert "OPINION_TOPIC_MIN_INSYNC_REPLICAS (2) exceeds OPINION_TOPIC_REPLICATION_FACTOR" in err


def test_real_process_lowercase_log_level_and_invalid_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPINION_")}
    env |= {"OPINION_STATE_DIR": str(tmp_path), "OPINION_LOG_LEVEL": "info"}

    def opinion(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", *args],
            env=env | extra,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    helped = opinion("--help")
    assert helped.returncode == 0 and "worker" in helped.stdout, helped.stderr
    failed = opinion("worker", **BAD)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "error: invalid setting OPINION_BATCH_MAX_SIZE: Input should be a valid integer, "
        "unable to parse string as an integer (set in the environment or .env)"
    ]


def test_json_log_lines(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure_logging("info", "json")
    log = logging.getLogger("opinion.test")
    log.debug("hidden")
    log.info("plain %s", "message")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["message"] for r in records] == ["plain message", "failed"]
    assert records[0].keys() == {"time", "level", "logger", "message"}
    assert records[0]["level"] == "INFO" and records[0]["logger"] == "opinion.test"
    assert "ValueError: boom" in records[1]["exc_info"]


def test_worker_honours_log_level_and_format(stack_settings: Settings, tmp_path: Path) -> None:
    """Two real workers: JSON at INFO (every line a JSON record, Faust's included) and text at
    WARNING (no INFO line, though Faust logs plenty at INFO)."""
    from tests.faults.tiny_model import build_tiny_checkpoint

    model = build_tiny_checkpoint(tmp_path / "model")
    common = {"model_dir": model, "multilingual": False}
    as_json = WorkerProcess(
        stack_settings, "json-log", loglevel=None, app_id="log-json", log_level="INFO",
        log_format="json", **common,
    )  # fmt: skip
    quiet = WorkerProcess(
        stack_settings, "warn-log", loglevel=None, app_id="log-warn", log_level="WARNING",
        **common,
    )  # fmt: skip
    try:
        as_json.wait_ready()
        quiet.wait_ready()
    finally:
        quiet.kill()  # only its startup matters
        as_json.stop()  # shutdown lines must be JSON too
    lines = [line for line in as_json.log_path.read_text().splitlines() if line.strip()]
    records = [_json_or_none(line) for line in lines]
    assert None not in records, [line for line, r in zip(lines, records, strict=True) if not r]
    assert any(r["level"] == "INFO" for r in records)
    assert any(r["logger"].startswith(("faust", "mode")) for r in records), "Faust bypassed us"
    text = quiet.log_path.read_text()
    assert " INFO " not in text, text[-2000:]
