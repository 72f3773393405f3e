"""Settings of alert records and their delivery (Kafka, webhook, Slack, e-mail)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from pipeline.config.types import SeverityName


class AlertingSettings(BaseModel):
    """The alert stream, the delivery outbox and each channel's target."""

    dashboard_url: str = Field(
        "http://localhost:8501", description="Base URL of the dashboard, for alert links."
    )
    alert_stream_key: str = Field(
        "opinion:{alerts}:stream",
        description="Redis stream of alert records (dashboard); a custom key must keep the "
        "{alerts} hash tag (written atomically with the alert).",
    )
    alert_stream_maxlen: int = Field(10_000, ge=10, description="Approximate stream cap.")
    alert_sample_posts: int = Field(3, ge=0, description="Masked example posts in an alert.")
    alert_top_terms: int = Field(10, ge=0, description="Top negative terms in an alert.")
    alert_retry_backoff_s: float = Field(
        0.5,
        gt=0,
        description="Delay after a delivery's first transient failure; doubles each failure "
        "(with jitter); retried until the channel takes it.",
    )
    alert_retry_backoff_max_s: float = Field(30.0, gt=0, description="Longest retry delay.")
    alert_lease_s: float = Field(
        30.0,
        gt=0,
        description="How long a worker holds a delivery it is sending before another worker "
        "may take it (at least twice alert_timeout_s is used).",
    )
    alert_outbox_interval_s: float = Field(
        1.0, gt=0, description="How often each worker sends due alert deliveries."
    )
    alert_drain_timeout_s: float = Field(
        5.0, ge=0, description="On worker shutdown, time spent sending due deliveries."
    )
    alert_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of one webhook/SMTP/Kafka delivery attempt."
    )
    alert_notify_events: tuple[str, ...] = Field(
        ("opened", "escalated", "resolved"),
        description="Alert events sent to webhook/Slack/email (JSON list: opened, escalated, "
        "acknowledged, resolved); Kafka gets all.",
    )
    alert_webhook_url: str | None = Field(
        None, description="Generic JSON webhook: POSTs the alert JSON."
    )
    alert_slack_webhook_url: str | None = Field(
        None, description="Slack-compatible incoming webhook URL."
    )
    alert_smtp_host: str | None = Field(None, description="SMTP server; unset = no email.")
    alert_smtp_port: int = Field(25, description="SMTP port.")
    alert_smtp_tls: Literal["none", "starttls", "ssl"] | None = Field(
        None,
        description="SMTP encryption: none, starttls or ssl (implicit TLS, port 465); "
        "unset = starttls if OPINION_ALERT_SMTP_STARTTLS, else none.",
    )
    alert_smtp_starttls: bool = Field(
        False, description="Older switch: true = STARTTLS (OPINION_ALERT_SMTP_TLS wins)."
    )
    alert_smtp_ca_file: Path | None = Field(
        None,
        description="CA bundle that verifies the SMTP server's certificate (else the system's).",
    )
    alert_smtp_username: str | None = Field(None, description="SMTP login, if required.")
    alert_smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    alert_email_from: str = Field("opinion-monitor@localhost", description="Sender address.")
    alert_email_to: str | None = Field(None, description="Comma-separated recipients.")
    alert_min_severity_webhook: SeverityName = Field(
        "medium", description="Least severe alert sent to the webhook (low/medium/high/critical)."
    )
    alert_min_severity_slack: SeverityName = Field(
        "medium", description="Least severe alert sent to Slack."
    )
    alert_min_severity_email: SeverityName = Field(
        "medium", description="Least severe alert sent by email."
    )
