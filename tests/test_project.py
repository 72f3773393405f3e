"""Project-level promises: README commands, CI entry point, config docs, compose env vars."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipeline.config import Settings
from pipeline.config_doc import END, START, config_table, env_example, sections, setting_names

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line for line in (ROOT / "README.md").read_text().splitlines()[:5] if line.strip()]
    assert lines[0] == "```sh"
    assert lines[1].startswith("make demo") and lines[2].startswith("make test")


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", script, re.MULTILINE)


def test_readme_config_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == config_table(), "run: python -m pipeline.config_doc --write"


def test_env_example_is_current() -> None:
    committed = (ROOT / ".env.example").read_text()
    assert committed == env_example(), "run: python -m pipeline.config_doc --write"
    names = {line.split("=", 1)[0].lstrip("# ") for line in committed.splitlines() if "=" in line}
    assert setting_names() <= names


def test_every_setting_is_documented() -> None:
    missing = [row.env for _, rows in sections() for row in rows if not row.description]
    assert not missing, f"settings without a description: {missing}"
    titles = [title for title, _ in sections()]
    assert "Training" in titles, "training's section comes through opinion.settings"
    documented = {name.removeprefix("OPINION_").lower() for name in setting_names()}
    assert {n for n in Settings.model_fields if n != "detector"} <= documented


def _compose_env_names(node: object) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment" and isinstance(value, dict):
                names |= {k for k in value if isinstance(k, str) and k.startswith("OPINION_")}
            names |= _compose_env_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= _compose_env_names(item)
    return names


def test_compose_env_vars_exist_in_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    used = _compose_env_names(compose)
    assert "OPINION_KAFKA_BOOTSTRAP" in used and "OPINION_REDIS_URL" in used
    known = setting_names()
    assert used <= known, f"compose sets unknown variables: {sorted(used - known)}"
    assert {"kafka", "redis", "worker", "dashboard", "trainer"} <= set(compose["services"])
