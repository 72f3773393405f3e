"""``Settings``: the one frozen settings object, assembled from one section per concern.

Each section (``broker``, ``redis``, ``model``, ``worker``, ``aggregation``, ``detector``,
``alerting``, ``dashboard``, ``stack``) declares its own fields; a component may take the
section it needs as its parameter type. Environment names are the field names upper-cased
after ``OPINION_`` (``OPINION_KAFKA_BOOTSTRAP``); the detector's defaults are one nested
``DetectorParams`` read from ``OPINION_DETECTOR_<NAME>``. Training adds its own section in
``training.settings``. Broker and Redis addresses fall back to what ``opinion stack up``
wrote to ``<state_dir>/stack.json``, so local commands find the embedded services.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from pipeline.config.aggregation import AggregationSettings
from pipeline.config.alerting import AlertingSettings
from pipeline.config.broker import BrokerSettings
from pipeline.config.dashboard import DashboardSettings
from pipeline.config.detector import DetectionSettings, DetectorParams
from pipeline.config.model import ModelSettings
from pipeline.config.redis import RedisSettings
from pipeline.config.stack import StackSettings
from pipeline.config.types import ConfigError, literal_choices
from pipeline.config.worker import WorkerSettings


class CoreSettings(BaseModel):
    """Where runtime state lives and how every process logs."""

    state_dir: Path = Field(Path("var"), description="Runtime state: stack.json, logs, data.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of every command and worker (any case)."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object per log line (for log shippers)."
    )


SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("General", CoreSettings),
    ("Kafka", BrokerSettings),
    ("Redis", RedisSettings),
    ("Worker", WorkerSettings),
    ("Model", ModelSettings),
    ("Aggregation", AggregationSettings),
    ("Spike detector", DetectionSettings),
    ("Alerts", AlertingSettings),
    ("Dashboard", DashboardSettings),
    ("Embedded stack (dev kit)", StackSettings),
)
"""The sections of ``Settings`` in the order the configuration reference lists them."""


class Settings(
    StackSettings,
    DashboardSettings,
    AlertingSettings,
    DetectionSettings,
    AggregationSettings,
    ModelSettings,
    WorkerSettings,
    RedisSettings,
    BrokerSettings,
    CoreSettings,
    BaseSettings,
):
    """All runtime configuration. Env prefix ``OPINION_``; also read from ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="OPINION_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # OPINION_DETECTOR_<NAME> fills the nested `detector` (split at the first "_" only).
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    @model_validator(mode="before")
    @classmethod
    def _detector_params_only(cls, data: Any) -> Any:
        """``OPINION_DETECTOR_INTERVAL_S`` and its siblings are the live driver's own fields;
        the nested split also offers them to ``detector``, which keeps only its parameters."""
        if isinstance(data, dict) and isinstance(data.get("detector"), dict):
            params = DetectorParams.model_fields
            data = {**data, "detector": {k: v for k, v in data["detector"].items() if k in params}}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        """Every choice setting (a ``Literal``) accepts its values in any case and padded."""
        if not isinstance(value, str) or info.field_name is None:
            return value
        choices = literal_choices(cls.model_fields[info.field_name].annotation)
        folded = value.strip().casefold()
        return next((c for c in choices if c.casefold() == folded), value)

    @model_validator(mode="after")
    def _alert_stream_in_the_alert_slot(self) -> Settings:
        if self.redis_cluster:
            from redis.cluster import key_slot

            if key_slot(self.alert_stream_key.encode()) != key_slot(b"{alerts}"):
                raise ValueError(
                    f"OPINION_ALERT_STREAM_KEY ({self.alert_stream_key}) needs the {{alerts}} "
                    "hash tag on a Redis Cluster (written in one MULTI with the alert), e.g. "
                    "opinion:{alerts}:stream"
                )
        return self

    @property
    def stack_file(self) -> Path:
        """Where ``opinion stack up`` records addresses and PIDs."""
        return self.state_dir / "stack.json"

    @property
    def local_signing_key_file(self) -> Path:
        """The label-signing key ``opinion stack up`` makes for a local stack (0600)."""
        return self.state_dir / "label-signing.key"

    def resolved_label_signing_key(self) -> SecretStr | None:
        """``OPINION_LABEL_SIGNING_KEY``, else the local stack's key, else None (unsigned)."""
        if self.label_signing_key is not None:
            return self.label_signing_key
        try:
            local = self.local_signing_key_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return SecretStr(local) if len(local) >= 16 else None

    @property
    def registry_dir(self) -> Path:
        return self.model_registry_dir or self.state_dir / "models"

    @property
    def zh_transformer_dir(self) -> Path:
        """Where ``training.build_zh_transformer`` writes the Chinese transformer by default."""
        return self.state_dir / "zh-transformer"

    def to_env(self) -> dict[str, str]:
        """These settings as ``OPINION_*`` variables, to configure a child process alike."""
        return {
            f"OPINION_{name.upper()}": text
            for name, value in _flat_items(self)
            if (text := _env_text(value)) is not None
        }

    def _stack_value(self, key: str) -> str | None:
        try:
            return json.loads(self.stack_file.read_text()).get(key)
        except (OSError, ValueError):
            return None

    def resolved_kafka_bootstrap(self) -> str:
        """The broker address: ``OPINION_KAFKA_BOOTSTRAP``, else the running embedded stack."""
        value = self.kafka_bootstrap or self._stack_value("kafka_bootstrap")
        if not value:
            raise ConfigError(
                "No Kafka broker configured: run `opinion stack up` for the embedded one, "
                "or set OPINION_KAFKA_BOOTSTRAP=host:port."
            )
        return value

    def resolved_redis_url(self) -> str:
        """The Redis URL: ``OPINION_REDIS_URL``, else the running embedded stack."""
        value = self.redis_url or self._stack_value("redis_url")
        if not value:
            raise ConfigError(
                "No Redis configured: run `opinion stack up` for the embedded one, "
                "or set OPINION_REDIS_URL=redis://host:port/0."
            )
        return value


S = TypeVar("S", bound=Settings)


def _flat_items(model: BaseModel, prefix: str = "") -> list[tuple[str, Any]]:
    """(env name without ``OPINION_``, value) of every field, nested sections flattened."""
    items: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            items += _flat_items(value, f"{prefix}{name}_")
        else:
            items.append((f"{prefix}{name}", value))
    return items


def _env_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple | list | dict):
        return json.dumps(value)
    return str(value)


def env_name(loc: tuple[int | str, ...]) -> str:
    """The variable behind a validation error's location: ``("detector", "min_volume")`` ->
    ``OPINION_DETECTOR_MIN_VOLUME`` (list positions are not part of the name)."""
    parts = [str(part) for part in loc if isinstance(part, str)][:2]
    return "OPINION_" + "_".join(parts).upper()


def settings_error_line(exc: ValidationError | SettingsError) -> str:
    """One line naming each invalid ``OPINION_*`` variable and what it allows (never its
    value: it may be a secret)."""
    import re

    if isinstance(exc, SettingsError):
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"OPINION_{found.group(1).upper()}" if found else "a setting"
        return f"invalid setting {name}: not valid JSON (give a JSON list, e.g. [1, 2])"
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = f"{env_name(error['loc'])}: " if error["loc"] else ""
        problems.setdefault(name, error["msg"].removeprefix("Value error, "))
    listed = "; ".join(f"{name}{msg}" for name, msg in problems.items())
    return f"invalid setting {listed} (set in the environment or .env)"


def read_settings(cls: type[S]) -> S:
    """``cls()`` from the environment and ``.env``; ``ConfigError`` with one line if invalid."""
    try:
        return cls()
    except (ValidationError, SettingsError) as exc:
        raise ConfigError(settings_error_line(exc)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once); ``ConfigError`` with one line if invalid."""
    return read_settings(Settings)
