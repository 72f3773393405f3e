"""The production compose file keeps its secrets out of the repo and its services closed:
Redis needs a password, only the dashboard is published (and needs a login there)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dashboard.auth import AuthConfigError, check_bind
from pipeline.config import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_secrets_come_from_required_variables(compose: dict) -> None:
    env = compose["x-opinion-env"]
    assert env["OPINION_REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert env["OPINION_AUTHOR_HASH_SALT"].startswith("${AUTHOR_HASH_SALT:?")
    assert env["OPINION_LABEL_SIGNING_KEY"].startswith("${LABEL_SIGNING_KEY:?")
    redis = compose["services"]["redis"]
    assert "--requirepass" in redis["command"]
    assert redis["command"][redis["command"].index("--requirepass") + 1].startswith(
        "${REDIS_PASSWORD:?"
    )
    dashboard = compose["services"]["dashboard"]["environment"]
    assert dashboard["OPINION_DASHBOARD_PASSWORD_HASH"].startswith("${DASHBOARD_PASSWORD_HASH:?")


def test_only_the_dashboard_is_published(compose: dict) -> None:
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"dashboard"}


def test_dashboard_bound_off_localhost_needs_a_login(compose: dict) -> None:
    env = compose["services"]["dashboard"]["environment"]
    exposed = Settings(_env_file=None, dashboard_address=env["OPINION_DASHBOARD_ADDRESS"])
    with pytest.raises(AuthConfigError):
        check_bind(exposed)
    check_bind(exposed.model_copy(update={"dashboard_password_hash": "scrypt$x"}))
    check_bind(Settings(_env_file=None))  # localhost without a login is allowed
