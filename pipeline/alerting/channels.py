"""Alert delivery channels: generic JSON webhook, Slack-compatible webhook, SMTP email, Kafka.

Each is a small class with ``name`` and ``send(alert, event, idempotency_key)``; ``send``
raises on failure (the outbox retries or parks the delivery, ``pipeline.alerting.outbox``).
None of them is called on the pipeline's thread.

Webhook URLs are secrets (a Slack incoming-webhook URL is its own credential, and a generic
webhook's secret sits in its path), so failures name only the endpoint's scheme, host and
port: the outbox logs them and keeps them with the delivery in Redis. (httpx's own INFO line, which
has the whole URL, is silenced by the CLI.)

Text from posts, watches and terms is untrusted: Slack gets it escaped, e-mail headers get
it without control characters, and both get it on one line and truncated (the dashboard
link has the rest).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from pipeline.config import ConfigError, Settings
from pipeline.schemas import ALERT_KINDS, Alert, AlertKind, AlertReason

SmtpTls = Literal["none", "starttls", "ssl"]
QUOTE_CHARS = 280
"""Longest post quote in a notification."""
NAME_CHARS = 100
"""Longest watch name in a notification."""
TERM_CHARS = 60
"""Longest top term in a notification."""
SUBJECT_CHARS = 200
"""Longest e-mail subject."""


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


class ChannelError(RuntimeError):
    """A delivery failed; the message never contains the target's full URL."""


class PermanentChannelError(ChannelError):
    """A delivery that will fail again however often it is retried (park it)."""


def idempotency_key_for(alert_id: str, event: str) -> str:
    """The key a receiver deduplicates deliveries by: one per alert and event."""
    return f"{alert_id}:{event}"


# --- untrusted text ------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")


def one_line(text: str) -> str:
    """``text`` without control characters or line breaks, runs of whitespace collapsed."""
    return " ".join(_CONTROL.sub(" ", text).split())


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (ending with an ellipsis if cut)."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def slack_escape(text: str) -> str:
    """``text`` with Slack's control characters escaped: no mention, link or command."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the human line ------------------------------------------------------------------------

_EVENT_HEADS = {"resolved": "Resolved", "acknowledged": "Acknowledged"}
_ESCALATED = "Escalated: "
_KIND_HEADS: dict[AlertKind, str] = {
    "negative_share": "Negative spike",
    "negative_volume": "Negative posts surge",
    "volume": "Mention spike",
}
_KIND_NAMES: dict[AlertKind, str] = {
    "negative_share": "negative share",
    "negative_volume": "negative posts",
    "volume": "mention spike",
}


def _rank(kind: AlertKind) -> int:
    """Severity rank of a kind of surge (0 = most severe): negative share, negative posts,
    mentions."""
    return ALERT_KINDS.index(kind)


def _measure(reason: AlertReason, volume: int) -> str:
    """Observed vs expected of the headline reason."""
    if reason.kind == "negative_share":
        return f"{reason.observed:.0%} negative vs {reason.expected:.0%} baseline, {volume} posts"
    noun = "negative posts" if reason.kind == "negative_volume" else "posts"
    return f"{reason.observed:.0f} {noun} vs {reason.expected:.0f} expected ({reason.ratio:.1f}x)"


def summary(alert: Alert, event: str = "opened") -> str:
    """One line for humans: what surged (the most severe kind first), on which watch, when.

    Alerts without ``reasons`` (older records) are described by their negative share.
    """
    reasons = sorted(alert.reasons, key=lambda r: _rank(r.kind))
    kinds = [r.kind for r in reasons] or alert.kinds or ["negative_share"]
    if event == "opened":
        head = _KIND_HEADS[min(kinds, key=_rank)]
    elif event == "escalated":
        head = _ESCALATED + _KIND_HEADS[min(kinds, key=_rank)].lower()
    else:
        head = _EVENT_HEADS.get(event, event)
    if reasons:
        measure = _measure(reasons[0], alert.volume)
    else:
        measure = (
            f"{alert.negative_share:.0%} negative vs {alert.baseline_share:.0%} baseline, "
            f"{alert.volume} posts"
        )
    line = (
        f"{head} [{alert.severity}] "
        f"{clip(alert.watch_name, NAME_CHARS)}: {measure}, "
        f"{alert.window_start:%Y-%m-%d %H:%M}-{alert.window_end:%H:%M} UTC"
    )
    if others := [f"{_KIND_NAMES[r.kind]} {r.ratio:.1f}x" for r in reasons[1:]]:
        line += f"; also: {', '.join(others)}"
    return line


# --- HTTP ----------------------------------------------------------------------------------


def endpoint(url: str) -> str:
    """``scheme://host:port/...`` of ``url``: the part of a webhook URL that is safe to log."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or '?'}{port}/..."
    except ValueError:
        return "(invalid URL)"


def _failure(exc: Exception, url: str) -> str:
    """What went wrong, with any URL in the exception's text reduced to the endpoint."""
    detail = re.sub(r"\b\w+://\S+", endpoint(url), str(exc))
    return f"{type(exc).__name__} posting to {endpoint(url)}: {detail}"


def _is_permanent(status: int) -> bool:
    """An HTTP status that a retry will get again: 4xx except timeout and rate limit."""
    return 400 <= status < 500 and status not in (408, 429)


def post(url: str, timeout_s: float, **request: Any) -> None:
    """POST to ``url``; raises ``ChannelError`` (without the URL's path) unless 2xx.

    ``PermanentChannelError`` for an invalid URL and for 4xx other than 408 and 429.
    """
    try:
        response = httpx.post(url, timeout=timeout_s, **request)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentChannelError(_failure(exc, url)) from None
    except httpx.HTTPError as exc:
        raise ChannelError(_failure(exc, url)) from None
    if not response.is_success:
        error = PermanentChannelError if _is_permanent(response.status_code) else ChannelError
        raise error(f"HTTP {response.status_code} {response.reason_phrase} from {endpoint(url)}")


def _key_header(idempotency_key: str | None) -> dict[str, str]:
    """The ``Idempotency-Key`` header, when there is a key."""
    return {"Idempotency-Key": idempotency_key} if idempotency_key else {}


class WebhookChannel:
    """POSTs the alert JSON (the ``Alert`` schema) plus ``event`` and ``idempotency_key``;
    headers ``X-Opinion-Event`` and ``Idempotency-Key`` say the same."""

    def __init__(self, url: str, timeout_s: float = 5.0, name: str = "webhook") -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.name = name

    @staticmethod
    def body(alert: Alert, event: str, idempotency_key: str | None) -> dict[str, Any]:
        """The alert's JSON fields plus ``event`` and ``idempotency_key`` (may be null)."""
        return {
            **alert.model_dump(mode="json"),
            "event": event,
            "idempotency_key": idempotency_key,
        }

    def send(self, alert: Alert, event: str = "opened", idempotency_key: str | None = None) -> None:
        post(
            self.url,
            self.timeout_s,
            json=self.body(alert, event, idempotency_key),
            headers={"X-Opinion-Event": event, **_key_header(idempotency_key)},
        )


def _slack_link(url: str, text: str) -> str:
    """``<url|text>``: a link the code builds itself, its URL escaped too."""
    return f"<{slack_escape(url.replace('|', '%7C'))}|{slack_escape(text)}>"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


class SlackChannel:
    """Slack-compatible incoming webhook: ``{"text": ..., "blocks": [...]}``."""

    def __init__(self, url: str, timeout_s: float = 5.0, name: str = "slack") -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.name = name

    @staticmethod
    def payload(alert: Alert, event: str = "opened") -> dict[str, Any]:
        """Summary, top terms, quotes and the dashboard link; all outside text escaped."""
        text = slack_escape(summary(alert, event))
        blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(text)}]
        if alert.top_terms:
            terms = ", ".join(clip(t, TERM_CHARS) for t in alert.top_terms[:10])
            blocks.append({"type": "context", "elements": [_mrkdwn(slack_escape(terms))]})
        for sample in alert.sample_posts[:3]:
            quote = slack_escape(clip(str(sample.get("text", "")), QUOTE_CHARS))
            blocks.append({"type": "section", "text": _mrkdwn(f"> {quote}")})
        if alert.dashboard_url:
            link = _slack_link(alert.dashboard_url, "Open in dashboard")
            alert_id = slack_escape(one_line(alert.id))
            blocks.append(
                {"type": "context", "elements": [_mrkdwn(f"{link} · alert `{alert_id}`")]}
            )
        return {"text": text, "blocks": blocks}

    def send(self, alert: Alert, event: str = "opened", idempotency_key: str | None = None) -> None:
        post(
            self.url,
            self.timeout_s,
            json=self.payload(alert, event),
            headers=_key_header(idempotency_key),
        )


# --- e-mail --------------------------------------------------------------------------------

_ADDR_SPEC = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")


def mailbox(value: str, role: str) -> str:
    """``value`` if it is one e-mail address (``a@example.org`` or ``Name <a@example.org>``);
    else ``ConfigError`` naming the ``role`` (sender, recipient)."""
    value = value.strip()
    parsed = getaddresses([value])
    if _CONTROL.search(value) or len(parsed) != 1 or not _ADDR_SPEC.fullmatch(parsed[0][1]):
        raise ConfigError(f"e-mail {role} {value!r} is not one e-mail address")
    return value


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A context that verifies the server's certificate and host name (against ``ca_file``
    when given, else the system's CAs)."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except OSError as exc:  # ssl.SSLError included
        raise ConfigError(f"SMTP CA file {ca_file}: {exc}") from exc


def _smtp_is_permanent(exc: smtplib.SMTPException) -> bool:
    """A refusal a retry will get again: bad login, or a 5xx answer (all recipients 5xx)."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


class EmailChannel:
    """Plain-text email through SMTP: ``tls`` none, STARTTLS or implicit TLS (``ssl``), both
    verifying the server's certificate; optional login."""

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
        tls: SmtpTls = "none",
        ca_file: Path | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        if not recipients:
            raise ConfigError("e-mail channel without recipients")
        self.host, self.port = host, port
        self.sender = mailbox(sender, "sender")
        self.recipients = [mailbox(r, "recipient") for r in recipients]
        self.username, self.password = username, password
        self.tls: SmtpTls = tls
        self.context = tls_context(ca_file) if tls != "none" else None
        self.timeout_s = timeout_s

    @staticmethod
    def message(alert: Alert, event: str, sender: str, recipients: list[str]) -> EmailMessage:
        """The mail: one-line subject, summary, terms, truncated quotes, dashboard link."""
        msg = EmailMessage()
        msg["Subject"] = clip(f"[opinion] {summary(alert, event)}", SUBJECT_CHARS)
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        lines = [summary(alert, event), "", f"Alert: {alert.id}  state: {alert.state}"]
        if alert.top_terms:
            terms = ", ".join(clip(t, TERM_CHARS) for t in alert.top_terms)
            lines.append(f"Top negative terms: {terms}")
        lines += [
            "",
            *(f"- {clip(str(p.get('text', '')), QUOTE_CHARS)}" for p in alert.sample_posts),
        ]
        if alert.dashboard_url:
            lines += ["", f"Dashboard: {one_line(alert.dashboard_url)}"]
        msg.set_content("\n".join(lines))
        return msg

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self.context
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)

    def send(self, alert: Alert, event: str = "opened", idempotency_key: str | None = None) -> None:
        """Mails the alert; SMTP refusals that will recur raise ``PermanentChannelError``."""
        msg = self.message(alert, event, self.sender, self.recipients)
        try:
            with self._connect() as smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self.context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPException as exc:
            error = PermanentChannelError if _smtp_is_permanent(exc) else ChannelError
            raise error(self._failure(exc)) from exc
        except OSError as exc:
            raise ChannelError(self._failure(exc)) from exc

    def _failure(self, exc: Exception) -> str:
        return f"{type(exc).__name__} mailing via {self.host}:{self.port}: {exc}"


# --- Kafka ---------------------------------------------------------------------------------


class KafkaChannel:
    """Publishes every alert event to the alerts topic (key = watch id, headers ``event`` and
    ``idempotency-key``)."""

    name = "kafka"

    def __init__(self, settings: Settings, producer: Any | None = None) -> None:
        self.settings = settings
        self._producer = producer

    def send(self, alert: Alert, event: str = "opened", idempotency_key: str | None = None) -> None:
        if self._producer is None:
            from pipeline.kafka_io import producer

            quick = self.settings.model_copy(
                update={"kafka_connect_timeout_s": self.settings.alert_timeout_s}
            )
            self._producer = producer(quick)
        headers = [("event", event.encode())]
        if idempotency_key:
            headers.append(("idempotency-key", idempotency_key.encode()))
        future = self._producer.send(
            self.settings.topic("alerts"),
            key=alert.watch_id.encode(),
            value=alert.to_bytes(),
            headers=headers,
        )
        future.get(timeout=self.settings.alert_timeout_s)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self.settings.alert_timeout_s)
            self._producer = None


def smtp_tls(settings: Settings) -> SmtpTls:
    """``OPINION_ALERT_SMTP_TLS``, or (unset) starttls if the older ``..._STARTTLS`` is true."""
    if settings.alert_smtp_tls is not None:
        return settings.alert_smtp_tls
    return "starttls" if settings.alert_smtp_starttls else "none"


def channels_from_settings(settings: Settings) -> list[Channel]:
    """The webhook/Slack/email channels that are configured (Kafka is separate).

    ``ConfigError`` for a malformed e-mail address or an unreadable CA file.
    """
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
                tls=smtp_tls(settings),
                ca_file=settings.alert_smtp_ca_file,
                timeout_s=timeout,
            )
        )
    return out
