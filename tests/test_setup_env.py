"""``opinion setup``: missing secrets written into .env (0600), existing ones never changed;
``--check`` names what is missing in one line and exits 2."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from pipeline.config import Settings
from pipeline.config_doc import SETUP_WRITES, env_example
from pipeline.setup_env import ensure_secrets, env_values, missing_secrets, register


def test_a_new_env_file_is_the_example_plus_every_secret(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert ensure_secrets(env) == list(SETUP_WRITES)
    text = env.read_text()
    assert text.startswith(env_example())
    values = env_values(text)
    assert all(len(values[name]) >= 40 for name in SETUP_WRITES)
    assert len({values[name] for name in SETUP_WRITES}) == 3
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    settings = Settings(_env_file=env)
    assert missing_secrets(settings) == []


def test_existing_values_are_kept_and_empty_ones_filled(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("OPINION_REDIS_PASSWORD=mine\nOPINION_LABEL_SIGNING_KEY=\nOTHER=1\n")
    env.chmod(0o644)
    assert ensure_secrets(env) == ["OPINION_AUTHOR_HASH_SALT", "OPINION_LABEL_SIGNING_KEY"]
    values = env_values(env.read_text())
    assert values["OPINION_REDIS_PASSWORD"] == "mine" and values["OTHER"] == "1"
    assert values["OPINION_LABEL_SIGNING_KEY"]
    assert env.read_text().count("OPINION_LABEL_SIGNING_KEY=") == 1
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    before = env.read_text()
    assert ensure_secrets(env) == [] and env.read_text() == before


def test_missing_secrets_names_each_one() -> None:
    bare = Settings(_env_file=None)
    assert missing_secrets(bare) == list(SETUP_WRITES)
    complete = bare.model_copy(
        update={
            "redis_url": "redis://:pw@redis:6379/0",
            "author_hash_salt": SecretStr("s" * 20),
            "label_signing_key": SecretStr("k" * 20),
        }
    )
    assert missing_secrets(complete) == []


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> typer.Typer:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in SETUP_WRITES:
        monkeypatch.delenv(name, raising=False)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keeps `setup` a sub-command
    return app


def test_check_fails_in_one_line_naming_the_missing(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPINION_REDIS_PASSWORD", "pw")
    from pipeline.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["setup", "--check"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "OPINION_AUTHOR_HASH_SALT, OPINION_LABEL_SIGNING_KEY" in lines[0]
    assert "OPINION_REDIS_PASSWORD" not in lines[0] and "deploy/setup.sh" in lines[0]


def test_setup_writes_then_reports_nothing_to_do(cli: typer.Typer, tmp_path: Path) -> None:
    env = tmp_path / "deploy.env"
    first = CliRunner().invoke(cli, ["setup", "--env-file", str(env)])
    assert first.exit_code == 0 and "OPINION_REDIS_PASSWORD" in first.output
    second = CliRunner().invoke(cli, ["setup", "--env-file", str(env)])
    assert second.exit_code == 0 and "nothing changed" in second.output
