"""Settings of the Kafka broker connection and of the topics the monitor uses."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from pipeline.config.types import TOPIC_ROLES, TopicRole, TopicSpec


class BrokerSettings(BaseModel):
    """Kafka: where the broker is, how to reach it, the topics and their layout."""

    kafka_bootstrap: str | None = Field(
        None, description="host:port[,host:port]; unset = the embedded broker from stack.json."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with SASL_*)."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle to verify the broker's TLS certificate."
    )
    kafka_client_id: str = Field("opinion-monitor", description="Prefix of the Kafka client ids.")
    kafka_connect_timeout_s: float = Field(
        10.0, gt=0, description="How long clients try to reach the broker before failing."
    )

    topic_social: str = Field(
        "opinion.posts.social", description="Input topic: social-media posts."
    )
    topic_news: str = Field("opinion.posts.news", description="Input topic: news articles.")
    topic_scored: str = Field("opinion.posts.scored", description="Output: scored posts.")
    topic_alerts: str = Field("opinion.alerts", description="Output: alerts and their updates.")
    topic_labels: str = Field("opinion.labels", description="Analysts' labels (feeds retraining).")
    topic_dead_letter: str = Field(
        "opinion.dead-letter",
        description="Invalid messages with the reason and original bytes (raw personal data: "
        "restrict access).",
    )
    topic_model_updates: str = Field(
        "opinion.model-updates", description="Announcements of promoted model versions."
    )
    input_partitions: int = Field(4, ge=1, description="Partitions of the social/news topics.")
    output_partitions: int = Field(4, ge=1, description="Partitions of scored/dead-letter.")
    control_partitions: int = Field(
        1, ge=1, description="Partitions of alerts/labels/model-updates."
    )
    dead_letter_retention_s: int = Field(
        3 * 86400,
        ge=0,
        description="Retention (retention.ms) given to the dead-letter topic (raw personal "
        "data) when `opinion topics` creates it; 0 = the broker's default (docs/privacy.md).",
    )
    topic_replication_factor: int = Field(
        1,
        ge=1,
        description="Replicas of each topic the monitor creates (and of Faust's own); "
        "1 for one broker, 3 for a production cluster.",
    )
    topic_min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="min.insync.replicas of the topics it creates (with acks=all); unset = "
        "the broker's default; 2 with replication 3.",
    )
    kafka_idempotence: bool = Field(
        True,
        description="Idempotent producers (no duplicates on retry); always off against the "
        "embedded broker (Tansu loses data with it).",
    )

    @model_validator(mode="after")
    def _replicas_fit(self) -> BrokerSettings:
        isr = self.topic_min_insync_replicas
        if isr is not None and isr > self.topic_replication_factor:
            raise ValueError(
                f"OPINION_TOPIC_MIN_INSYNC_REPLICAS ({isr}) exceeds "
                f"OPINION_TOPIC_REPLICATION_FACTOR ({self.topic_replication_factor}): no write "
                "could succeed; lower it or raise the replication factor"
            )
        return self

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
