"""Typed configuration: one frozen settings object read from ``OPINION_*`` env vars and ``.env``.

Every field's default is documented in the README's configuration table (a test keeps the
two in sync). Broker and Redis addresses fall back to what ``opinion stack up`` wrote to
``<state_dir>/stack.json``, so local commands find the embedded services by themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TopicRole = Literal["social", "news", "scored", "alerts", "labels", "dead_letter", "model_updates"]
TOPIC_ROLES: tuple[TopicRole, ...] = (
    "social",
    "news",
    "scored",
    "alerts",
    "labels",
    "dead_letter",
    "model_updates",
)


class ConfigError(RuntimeError):
    """Configuration is missing or inconsistent; the message says what to set."""


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic the monitor uses: its role, name and partition count."""

    role: TopicRole
    name: str
    partitions: int


class Settings(BaseSettings):
    """All runtime configuration. Env prefix ``OPINION_``; also read from ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="OPINION_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- where things live -------------------------------------------------------------
    state_dir: Path = Field(Path("var"), description="Runtime state: stack.json, logs, data.")

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        None, description="host:port[,host:port]; unset = the embedded broker from stack.json."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_client_id: str = "opinion-monitor"
    kafka_connect_timeout_s: float = Field(
        10.0, gt=0, description="How long clients try to reach the broker before failing."
    )

    topic_social: str = "opinion.posts.social"
    topic_news: str = "opinion.posts.news"
    topic_scored: str = "opinion.posts.scored"
    topic_alerts: str = "opinion.alerts"
    topic_labels: str = "opinion.labels"
    topic_dead_letter: str = "opinion.dead-letter"
    topic_model_updates: str = "opinion.model-updates"
    input_partitions: int = Field(4, ge=1, description="Partitions of the social/news topics.")
    output_partitions: int = Field(4, ge=1, description="Partitions of scored/dead-letter.")
    control_partitions: int = Field(
        1, ge=1, description="Partitions of alerts/labels/model-updates."
    )

    # --- Redis -------------------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="redis://[:password@]host:port/db; unset = the embedded Redis."
    )
    redis_password: SecretStr | None = Field(
        None, description="Used when the URL carries none (also the embedded server's)."
    )

    # --- embedded stack ----------------------------------------------------------------
    stack_kafka_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_redis_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_s3_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_start_timeout_s: float = 30.0

    # --- worker / ingest ---------------------------------------------------------------
    app_id: str = "opinion-monitor"
    worker_web_port: int = Field(6066, description="Faust web port (metrics at /metrics).")
    worker_web_bind: str = Field("127.0.0.1", description="Interface for the worker web port.")
    model_poll_s: float = Field(
        30.0, gt=0, description="How often workers also check the registry for a new model."
    )
    max_text_chars: int = Field(20_000, ge=1, description="Longer texts are dead-lettered.")
    max_message_bytes: int = Field(1_000_000, ge=1, description="Bigger payloads dead-lettered.")
    author_hash_salt: SecretStr = Field(
        SecretStr("opinion-monitor-default-salt"),
        description="Key for hashing author ids; set a random value in production.",
    )
    dedup_window_s: int = Field(3600, ge=1, description="Same normalised text within = repost.")
    watches_file: Path | None = Field(None, description="YAML seeding the watches in Redis.")
    batch_max_size: int = Field(64, ge=1, description="Largest scoring batch.")
    batch_max_wait_s: float = Field(0.2, gt=0, description="Longest wait to fill a batch.")
    kafka_session_timeout_s: float = 10.0

    # --- model -------------------------------------------------------------------------
    model_dir: Path | None = Field(
        None, description="A HF checkpoint dir; unset = registry 'current', else the bundled one."
    )
    model_registry_dir: Path | None = Field(None, description="Unset = <state_dir>/models.")
    zh_model_dir: Path | None = Field(None, description="HF checkpoint for Chinese; optional.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    fusion_weight: float = Field(
        0.2, ge=0, le=1, description="Weight of the lexicon in the fused probabilities."
    )
    max_seq_len: int = Field(128, ge=8)

    # --- aggregation / alerting --------------------------------------------------------
    bucket_s: int = Field(60, ge=1, description="Aggregation bucket width in seconds.")
    retention_s: int = Field(7 * 86400, ge=60, description="How long buckets are kept.")
    recent_posts_per_watch: int = Field(500, ge=1)
    dashboard_url: str = "http://localhost:8501"
    alert_webhook_url: str | None = None
    alert_slack_webhook_url: str | None = None
    alert_smtp_host: str | None = None
    alert_smtp_port: int = 25
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_email_from: str = "opinion-monitor@localhost"
    alert_email_to: str | None = Field(None, description="Comma-separated recipients.")

    # --- dashboard ---------------------------------------------------------------------
    dashboard_port: int = 8501
    dashboard_address: str = "127.0.0.1"
    dashboard_password_hash: SecretStr | None = None
    dashboard_auth_header: str | None = None

    # ------------------------------------------------------------------------------------
    @property
    def stack_file(self) -> Path:
        """Where ``opinion stack up`` records addresses and PIDs."""
        return self.state_dir / "stack.json"

    @property
    def registry_dir(self) -> Path:
        return self.model_registry_dir or self.state_dir / "models"

    def topics(self) -> dict[TopicRole, TopicSpec]:
        """Every topic the monitor uses, by role."""
        parts = {
            "social": self.input_partitions,
            "news": self.input_partitions,
            "scored": self.output_partitions,
            "dead_letter": self.output_partitions,
            "alerts": self.control_partitions,
            "labels": self.control_partitions,
            "model_updates": self.control_partitions,
        }
        return {
            role: TopicSpec(role, getattr(self, f"topic_{role}"), parts[role])
            for role in TOPIC_ROLES
        }

    def topic(self, role: TopicRole) -> str:
        return self.topics()[role].name

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
