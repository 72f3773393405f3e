"""Alert delivery channels: generic JSON webhook, Slack-compatible webhook, SMTP email, Kafka.

Each is a small class with ``name`` and ``send(alert, event)``; ``send`` raises on failure
(the dispatcher retries). None of them is called on the pipeline's thread.

Webhook URLs are secrets (a Slack incoming-webhook URL is its own credential, and a generic
webhook's secret sits in its path), so failures name only the endpoint's scheme, host and
port: the dispatcher logs them and parks them in Redis. (httpx's own INFO log line, which
has the whole URL, is silenced by the CLI.)
"""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from pipeline.config import Settings
from pipeline.schemas import Alert


class Channel(Protocol):
    """Something an alert can be delivered to.

    ``send`` raises ``PermanentChannelError`` when retrying cannot help (HTTP 4xx other than
    408/429, an invalid address) and ``ChannelError`` (or any other exception) when a later
    retry may succeed. ``idempotency_key`` (alert id + event) lets a receiver drop a rare
    duplicate delivery.
    """

    name: str

    def send(
        self, alert: Alert, event: str = "opened", idempotency_key: str | None = None
    ) -> None: ...


def summary(alert: Alert, event: str = "opened") -> str:
    """One line for humans."""
    head = {"opened": "Negative spike", "resolved": "Resolved", "acknowledged": "Acknowledged"}
    return (
        f"{head.get(event, event)} [{alert.severity}] {alert.watch_name}: "
        f"{alert.negative_share:.0%} negative vs {alert.baseline_share:.0%} baseline, "
        f"{alert.volume} posts, {alert.window_start:%Y-%m-%d %H:%M}-{alert.window_end:%H:%M} UTC"
    )


class ChannelError(RuntimeError):
    """A delivery failed; the message never contains the target's full URL."""


class PermanentChannelError(ChannelError):
    """A delivery that will fail again however often it is retried (park it)."""


def idempotency_key_for(alert_id: str, event: str) -> str:
    """The key a receiver deduplicates deliveries by: one per alert and event."""
    return f"{alert_id}:{event}"


def endpoint(url: str) -> str:
    """``scheme://host:port/...`` of ``url``: the part of a webhook URL that is safe to log."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or '?'}{port}/..."
    except ValueError:
        return "(invalid URL)"


def post(url: str, timeout_s: float, **request: Any) -> None:
    """POST to ``url``; raises ``ChannelError`` (without the URL's path) unless 2xx."""
    try:
        response = httpx.post(url, timeout=timeout_s, **request)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = re.sub(r"\b\w+://\S+", endpoint(url), str(exc))  # any URL, as formatted
        raise ChannelError(f"{type(exc).__name__} posting to {endpoint(url)}: {detail}") from None
    if not response.is_success:
        raise ChannelError(
            f"HTTP {response.status_code} {response.reason_phrase} from {endpoint(url)}"
        )


class WebhookChannel:
    """POSTs the alert JSON (the ``Alert`` schema); header ``X-Opinion-Event`` tells the event."""

    def __init__(self, url: str, timeout_s: float = 5.0, name: str = "webhook") -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.name = name

    def send(self, alert: Alert, event: str = "opened") -> None:
        post(
            self.url,
            self.timeout_s,
            content=alert.to_bytes(),
            headers={"Content-Type": "application/json", "X-Opinion-Event": event},
        )


class SlackChannel:
    """Slack-compatible incoming webhook: ``{"text": ..., "blocks": [...]}``."""

    def __init__(self, url: str, timeout_s: float = 5.0, name: str = "slack") -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.name = name

    @staticmethod
    def payload(alert: Alert, event: str = "opened") -> dict[str, Any]:
        text = summary(alert, event)
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}
        ]
        if alert.top_terms:
            terms = ", ".join(alert.top_terms[:10])
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": terms}]})
        for post in alert.sample_posts[:3]:
            quote = str(post.get("text", ""))[:280].replace("\n", " ")
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"> {quote}"}})
        if alert.dashboard_url:
            link = f"<{alert.dashboard_url}|Open in dashboard> · alert `{alert.id}`"
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
        return {"text": text, "blocks": blocks}

    def send(self, alert: Alert, event: str = "opened") -> None:
        post(self.url, self.timeout_s, json=self.payload(alert, event))


class EmailChannel:
    """Plain-text email through SMTP (optional STARTTLS and login)."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 5.0,
    ) -> None:
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self.username, self.password, self.starttls = username, password, starttls
        self.timeout_s = timeout_s

    @staticmethod
    def message(alert: Alert, event: str, sender: str, recipients: list[str]) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[opinion] {summary(alert, event)}"[:200]
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        lines = [summary(alert, event), "", f"Alert: {alert.id}  state: {alert.state}"]
        if alert.top_terms:
            lines.append("Top negative terms: " + ", ".join(alert.top_terms))
        lines += ["", *(f"- {p.get('text', '')}" for p in alert.sample_posts)]
        if alert.dashboard_url:
            lines += ["", f"Dashboard: {alert.dashboard_url}"]
        msg.set_content("\n".join(lines))
        return msg

    def send(self, alert: Alert, event: str = "opened") -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(self.message(alert, event, self.sender, self.recipients))


class KafkaChannel:
    """Publishes every alert event to the alerts topic (key = watch id, header ``event``)."""

    name = "kafka"

    def __init__(self, settings: Settings, producer: Any | None = None) -> None:
        self.settings = settings
        self._producer = producer

    def send(self, alert: Alert, event: str = "opened") -> None:
        if self._producer is None:
            from pipeline.kafka_io import producer

            quick = self.settings.model_copy(
                update={"kafka_connect_timeout_s": self.settings.alert_timeout_s}
            )
            self._producer = producer(quick)
        future = self._producer.send(
            self.settings.topic("alerts"),
            key=alert.watch_id.encode(),
            value=alert.to_bytes(),
            headers=[("event", event.encode())],
        )
        future.get(timeout=self.settings.alert_timeout_s)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self.settings.alert_timeout_s)
            self._producer = None


def channels_from_settings(settings: Settings) -> list[Channel]:
    """The webhook/Slack/email channels that are configured (Kafka is separate)."""
    timeout = settings.alert_timeout_s
    out: list[Channel] = []
    if settings.alert_webhook_url:
        out.append(WebhookChannel(settings.alert_webhook_url, timeout))
    if settings.alert_slack_webhook_url:
        out.append(SlackChannel(settings.alert_slack_webhook_url, timeout))
    if settings.alert_smtp_host and settings.alert_email_to:
        out.append(
            EmailChannel(
                settings.alert_smtp_host,
                settings.alert_smtp_port,
                settings.alert_email_from,
                [a.strip() for a in settings.alert_email_to.split(",") if a.strip()],
                username=settings.alert_smtp_username,
                password=(
                    settings.alert_smtp_password.get_secret_value()
                    if settings.alert_smtp_password
                    else None
                ),
                starttls=settings.alert_smtp_starttls,
                timeout_s=timeout,
            )
        )
    return out
