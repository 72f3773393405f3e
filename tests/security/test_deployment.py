"""The production image and compose file, checked statically (no container engine runs here).

The compose file validates against the Compose Specification's schema; every volume a service
writes belongs to the user it runs as; every variable is a setting or a documented compose
variable; dependencies exist and health-checked ones have a healthcheck; secrets come from
``.env`` (written by ``deploy/setup.sh``) and a missing one stops ``up``, not ``config``; only
the dashboard and Kafka's loopback listener are published; the Dockerfile and the setup
script pass their linters (hadolint, shellcheck: both from PyPI, in ``[dev]``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from dashboard.auth import AuthConfigError, check_bind
from pipeline.config import Settings
from pipeline.config_doc import COMPOSE_VARIABLES, setting_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
TLS_OVERRIDE = ROOT / "deploy" / "compose.kafka-external-tls.yml"
DOCKERFILE = ROOT / "Dockerfile"
# compose-spec/compose-spec schema/compose-spec.json, as vendored by check-jsonschema 0.39.0
# (Apache-2.0; tests/data/compose-spec/LICENSE).
SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"

# Third-party images: the paths their own user may write, from their published Dockerfiles.
THIRD_PARTY_WRITABLE = {
    # apache/kafka docker/jvm/Dockerfile: USER appuser; chown appuser -R /var/lib/kafka.
    "apache/kafka": {"/var/lib/kafka/data"},
    # redis (Docker official image): docker-entrypoint.sh chowns /data to `redis`, then
    # drops root.
    "redis": {"/data"},
}
SETTINGS = setting_names()
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load(COMPOSE)


# --- the Dockerfile, read as the final stage builds it --------------------------------------
def final_stage(text: str) -> list[str]:
    """The final stage's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    last = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last:]


def image_user(stage: list[str]) -> tuple[str, dict[str, set[str]]]:
    """(user the image runs as, by name; paths each user owns through mkdir + chown)."""
    uids: dict[str, str] = {"0": "root"}
    owned: dict[str, set[str]] = {}
    user = "root"
    for line in stage:
        for cmd in re.split(r"&&|;", line.removeprefix("RUN ")):
            words = cmd.split()
            if words[:1] == ["useradd"]:
                uids[words[words.index("--uid") + 1]] = words[-1]
            if words[:1] == ["chown"]:
                args = [w for w in words[1:] if not w.startswith("-")]
                owner = args[0].split(":")[0]
                owned.setdefault(uids.get(owner, owner), set()).update(args[1:])
        if line.upper().startswith("USER "):
            name = line.split()[1].split(":")[0]
            user = uids.get(name, name)
    return user, owned


def ownership_problems(compose: dict, dockerfile: str) -> list[str]:
    """Each writable volume whose mount point the service's user does not own."""
    default_user, owned = image_user(final_stage(dockerfile))
    problems = []
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            if isinstance(volume, dict):
                target, read_only = volume["target"], volume.get("read_only", False)
            else:
                parts = volume.split(":")
                target, read_only = parts[1], parts[2:] == ["ro"]
            if read_only:
                continue
            if "build" in svc:
                user = str(svc.get("user", default_user))
                if user not in {"0", "root"} and target not in owned.get(user, set()):
                    problems.append(f"{name}: {target} is not owned by {user}")
            else:
                image = svc["image"].split(":")[0]
                if target not in THIRD_PARTY_WRITABLE.get(image, set()):
                    problems.append(f"{name}: {target} not known writable by {image}'s user")
    return problems


def test_image_runs_as_its_own_user_who_owns_what_it_writes() -> None:
    user, owned = image_user(final_stage(DOCKERFILE.read_text()))
    assert user == "opinion"
    assert {"/data", "/models"} <= owned["opinion"]


def test_every_written_volume_is_owned_by_the_user_of_its_service(compose: dict) -> None:
    assert ownership_problems(compose, DOCKERFILE.read_text()) == []


def test_an_unowned_volume_is_caught(compose: dict) -> None:
    dockerfile = DOCKERFILE.read_text()
    broken = json.loads(json.dumps(compose))
    broken["services"]["trainer"]["volumes"].append("cache:/cache")
    broken["services"]["kafka"]["volumes"].append("logs:/opt/kafka/logs")
    assert len(ownership_problems(broken, dockerfile)) == 2
    # the image before: no /models, so the volume's mount point is root's and training fails
    old = dockerfile.replace("mkdir -p /data /models", "mkdir -p /data").replace(
        "/data /models\n", "/data\n"
    )
    assert ownership_problems(compose, old) == ["trainer: /models is not owned by opinion"]


# --- the compose files ----------------------------------------------------------------------
@pytest.mark.parametrize("path", [COMPOSE, TLS_OVERRIDE], ids=lambda p: p.name)
def test_compose_files_validate_against_the_compose_spec(path: Path) -> None:
    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_load(path))]
    assert errors == []


def test_the_schema_rejects_a_broken_compose_file(compose: dict) -> None:
    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["depends_on"]["redis"]["condition"] = "service_ready"
    assert not validator.is_valid(broken)


def _env_keys(node: object) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment" and isinstance(value, dict):
                keys |= set(value)
            keys |= _env_keys(value)
    elif isinstance(node, list):
        for item in node:
            keys |= _env_keys(item)
    return keys


@pytest.mark.parametrize("path", [COMPOSE, TLS_OVERRIDE], ids=lambda p: p.name)
def test_every_variable_is_a_setting_or_a_documented_compose_variable(path: Path) -> None:
    text = path.read_text()
    compose_vars = {v.name for v in COMPOSE_VARIABLES}
    interpolated = set(VAR.findall(text))
    assert interpolated <= SETTINGS | compose_vars, interpolated - SETTINGS - compose_vars
    opinion = {k for k in _env_keys(_load(path)) if k.startswith("OPINION_")}
    assert opinion <= SETTINGS, f"unknown settings: {sorted(opinion - SETTINGS)}"


def test_every_compose_variable_is_used() -> None:
    used = set(VAR.findall(COMPOSE.read_text() + TLS_OVERRIDE.read_text()))
    assert {v.name for v in COMPOSE_VARIABLES} <= used


def test_dependencies_exist_and_health_conditions_have_healthchecks(compose: dict) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for target, cond in svc.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"
    for name, svc in services.items():
        if "healthcheck" in svc:
            assert "start_period" in svc["healthcheck"], f"{name}'s healthcheck: start_period"


def _needs(services: dict, name: str) -> set[str]:
    direct = set(services[name].get("depends_on", {}))
    return direct.union(*(_needs(services, d) for d in direct)) if direct else set()


def test_nothing_starts_without_its_secrets(compose: dict) -> None:
    services = compose["services"]
    assert services["preflight"]["command"] == ["setup", "--check"]
    for name in ("redis", "topics", "worker", "dashboard", "trainer", "replay"):
        assert "preflight" in _needs(services, name), name


def test_dashboard_waits_for_the_topics_it_writes_labels_to(compose: dict) -> None:
    needs = compose["services"]["dashboard"]["depends_on"]
    assert needs["topics"] == {"condition": "service_completed_successfully"}


def test_config_works_before_the_first_run(compose: dict) -> None:
    """No `${VAR:?}` (compose interpolates it for every command) and an optional .env."""
    assert ":?" not in COMPOSE.read_text()
    assert compose["x-env-file"] == [{"path": ".env", "required": False}]
    for name, svc in compose["services"].items():
        if "build" in svc:
            assert svc["env_file"] == compose["x-env-file"], name


def test_secrets_come_from_dotenv_and_redis_requires_its_password(compose: dict) -> None:
    redis = compose["services"]["redis"]
    assert redis["environment"] == {"OPINION_REDIS_PASSWORD": "${OPINION_REDIS_PASSWORD:-}"}
    assert '--requirepass "$$OPINION_REDIS_PASSWORD"' in redis["entrypoint"][-1]
    assert "DASHBOARD_PASSWORD_HASH" not in COMPOSE.read_text()
    setup = compose["services"]["setup"]
    assert setup["profiles"] == ["setup"] and setup["volumes"] == [".:/project"]


def test_only_the_dashboard_and_kafkas_loopback_listener_are_published(compose: dict) -> None:
    published = {name: svc["ports"] for name, svc in compose["services"].items() if "ports" in svc}
    assert set(published) == {"dashboard", "kafka"}
    assert published["kafka"] == [
        "${KAFKA_EXTERNAL_BIND:-127.0.0.1}:${KAFKA_EXTERNAL_PORT:-9094}:9094"
    ]
    env = compose["services"]["kafka"]["environment"]
    assert "EXTERNAL://${KAFKA_EXTERNAL_HOST:-localhost}" in env["KAFKA_ADVERTISED_LISTENERS"]
    tls = _load(TLS_OVERRIDE)["services"]["kafka"]["environment"]
    assert tls["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].endswith("EXTERNAL:SASL_SSL")


def test_replay_is_an_optional_profile(compose: dict) -> None:
    replay = compose["services"]["replay"]
    assert replay["profiles"] == ["replay"] and replay["command"][0] == "replay"


def test_dashboard_bound_off_localhost_needs_a_login(compose: dict) -> None:
    env = compose["services"]["dashboard"]["environment"]
    exposed = Settings(_env_file=None, dashboard_address=env["OPINION_DASHBOARD_ADDRESS"])
    with pytest.raises(AuthConfigError):
        check_bind(exposed)
    check_bind(exposed, accounts=1)  # the admin deploy/setup.sh creates
    check_bind(Settings(_env_file=None))  # localhost without a login is allowed


# --- the image ------------------------------------------------------------------------------
def test_image_installs_the_locked_set_before_the_code() -> None:
    text = DOCKERFILE.read_text()
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "--require-hashes" in code and "-r /tmp/image.lock" in code
    assert "[local]" not in code and "[dev]" not in code and "-e " not in code
    deps = text.split("FROM deps AS", 1)[0]
    assert "COPY requirements/image.lock" in deps and "COPY pipeline" not in deps
    final = "\n".join(final_stage(text))
    assert "COPY --from=deps /opt/venv /opt/venv" in final
    assert final.index("--from=deps") < final.index("--from=wheel")
    assert "pip install --no-deps /tmp/wheels/*.whl" in final


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        pytest.fail(f"{name} is missing: pip install -e '.[dev]'")
    return path


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_setup_script_passes_shellcheck() -> None:
    script = ROOT / "deploy" / "setup.sh"
    done = subprocess.run(
        [_tool("shellcheck"), str(script)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
