"""Render the configuration reference from the settings' sections: the README's tables and
``.env.example`` (every setting, commented out, for the compose deployment's ``.env``).

The sections are ``pipeline.config.SECTIONS`` and those that installed packages add through
the ``opinion.settings`` entry-point group (training's ``TrainingSettings``), so ``pipeline``
documents them without importing them.

``python -m pipeline.config_doc`` prints the table; ``--write`` rewrites both files; tests keep
them in sync.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from pipeline.config import SECTIONS, Settings


@dataclass(frozen=True)
class Documented:
    """One setting as the reference shows it."""

    env: str
    default: object
    description: str


def _documented(model: type[BaseModel], skip: set[str], prefix: str = "") -> list[Documented]:
    rows: list[Documented] = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        nested = _nested_model(field)
        if nested is not None:
            rows += _documented(nested, set(), f"{prefix}{name}_")
            continue
        default = None if field.default_factory is not None else field.default
        rows.append(Documented(f"OPINION_{prefix}{name}".upper(), default, field.description or ""))
    return rows


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def sections() -> list[tuple[str, list[Documented]]]:
    """(title, settings) of every section: the runtime's, then each installed plug-in's."""
    out = [(title, _documented(model, set())) for title, model in SECTIONS]
    core = set(Settings.model_fields)
    for entry in sorted(entry_points(group="opinion.settings"), key=lambda e: e.name):
        try:
            model = entry.load()
        except ModuleNotFoundError:
            continue  # a package left out of this install
        out.append((entry.name.capitalize(), _documented(model, core)))
    return out


def setting_names() -> set[str]:
    """Every documented ``OPINION_*`` variable."""
    return {row.env for _, rows in sections() for row in rows}


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{value}`"


def config_table() -> str:
    """One Markdown table per section: variable, default, meaning."""
    out: list[str] = []
    for title, rows in sections():
        out += ["", f"#### {title}", "", "| Variable | Default | Meaning |", "| --- | --- | --- |"]
        out += [f"| `{r.env}` | {_default(r.default)} | {r.description} |" for r in rows]
    return "\n".join(out[1:])


START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def update_readme(path: Path) -> bool:
    """Rewrite the table between the README markers; True when it changed."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{config_table()}\n{END}{tail}"
    path.write_text(new, encoding="utf-8")
    return new != text


@dataclass(frozen=True)
class ComposeVariable:
    """A variable of ``docker-compose.yml`` itself (not a setting of the monitor)."""

    name: str
    default: str
    description: str


COMPOSE_VARIABLES: tuple[ComposeVariable, ...] = (
    ComposeVariable("WORKERS", "2", "Scoring workers (partitions bound the parallelism)."),
    ComposeVariable("DASHBOARD_BIND", "0.0.0.0", "Host interface the dashboard is published on."),
    ComposeVariable("DASHBOARD_PORT", "8501", "Host port of the dashboard."),
    ComposeVariable(
        "KAFKA_EXTERNAL_BIND",
        "127.0.0.1",
        "Host interface of Kafka's external listener (producers outside compose); anything "
        "but loopback needs deploy/compose.kafka-external-tls.yml.",
    ),
    ComposeVariable("KAFKA_EXTERNAL_PORT", "9094", "Host port of Kafka's external listener."),
    ComposeVariable(
        "KAFKA_EXTERNAL_HOST", "localhost", "Host name producers use to reach that listener."
    ),
    ComposeVariable(
        "KAFKA_PRODUCER_PASSWORD",
        "",
        "Password of the `producer` SASL user (only with deploy/compose.kafka-external-tls.yml).",
    ),
    ComposeVariable(
        "KAFKA_TLS_KEYSTORE_PASSWORD",
        "",
        "Password of deploy/kafka-secrets/kafka.keystore.p12 (with the TLS override only).",
    ),
    ComposeVariable("TRAIN_INTERVAL_S", "86400", "Seconds between two runs of the trainer."),
    ComposeVariable(
        "REPLAY_SCENARIO", "demo-v1", "Scenario the `replay` profile feeds (demo feed)."
    ),
    ComposeVariable("REPLAY_SPEED", "max", "realtime | Nx (e.g. 600x) | max."),
)
"""Every ``${VAR}`` of the compose files that is not an ``OPINION_*`` setting."""

SETUP_WRITES = ("OPINION_REDIS_PASSWORD", "OPINION_AUTHOR_HASH_SALT", "OPINION_LABEL_SIGNING_KEY")
"""The secrets ``opinion setup`` (``sh deploy/setup.sh``) generates into ``.env``."""


def _env_default(value: object) -> str:
    if value is None or isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return json.dumps(list(value))
    return str(value)


def env_example() -> str:
    """``.env.example``: every compose variable and setting, commented out, with its meaning."""
    out = [
        "# Generated by `python -m pipeline.config_doc --write` from the settings: do not",
        "# edit. Copy to .env (or run `sh deploy/setup.sh`, which writes the secrets into .env);",
        "# uncomment what you change. Every OPINION_* line reaches every service (env_file).",
        "",
        "# --- docker-compose.yml ---",
    ]
    for var in COMPOSE_VARIABLES:
        out += [f"# {var.description}", f"# {var.name}={var.default}"]
    for title, rows in sections():
        out += ["", f"# --- settings: {title} (README: Configuration) ---"]
        for row in rows:
            note = " Written by `sh deploy/setup.sh`." if row.env in SETUP_WRITES else ""
            out += [f"# {row.description}{note}", f"# {row.env}={_env_default(row.default)}"]
    return "\n".join(out) + "\n"


def write_env_example(path: Path) -> bool:
    """Rewrite ``.env.example``; True when it changed."""
    new = env_example()
    old = path.read_text(encoding="utf-8") if path.exists() else None
    path.write_text(new, encoding="utf-8")
    return new != old


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        root = Path(__file__).resolve().parents[1]
        update_readme(root / "README.md")
        write_env_example(root / ".env.example")
    else:
        print(config_table())
