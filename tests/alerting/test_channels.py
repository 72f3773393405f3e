"""Alert channels: Slack escaping, HTTP and SMTP failure classes, idempotency keys, SMTP TLS
with certificate verification, no header injection, truncation and the summary line."""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
import ssl
from pathlib import Path
from typing import Any, ClassVar

import certifi
import pytest

from pipeline.alerting.channels import (
    QUOTE_CHARS,
    ChannelError,
    EmailChannel,
    KafkaChannel,
    PermanentChannelError,
    SlackChannel,
    WebhookChannel,
    channels_from_settings,
    summary,
)
from pipeline.config import ConfigError, Settings
from pipeline.schemas import Alert, AlertReason
from tests.alerting.servers import Receiver, sample_alert

HOSTILE = "<!channel> refund at <https://evil.example|your bank> & <@U123>"
LONG = "word " * 400


def _alert(**update: Any) -> Alert:
    return sample_alert().model_copy(update=update)


def _settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)


# --- Slack ---------------------------------------------------------------------------------


def test_slack_payload_escapes_everything_from_outside(receiver: Receiver) -> None:
    alert = _alert(
        watch_name="<!here> Acme & co",
        top_terms=["<!everyone>", "refund"],
        sample_posts=[{"text": HOSTILE}],
    )
    SlackChannel(receiver.url).send(alert, "opened")
    body = receiver.bodies[0]
    raw = json.dumps(body)
    # the only Slack markup left is the dashboard link the channel builds itself
    assert raw.count("<") == 1 and raw.count(">") == 2  # the link, and the quote's "> "
    assert "&lt;!here&gt; Acme &amp; co" in body["text"]
    quote = body["blocks"][2]["text"]["text"]
    assert quote == (
        "> &lt;!channel&gt; refund at &lt;https://evil.example|your bank&gt; &amp; &lt;@U123&gt;"
    )
    assert body["blocks"][1]["elements"][0]["text"] == "&lt;!everyone&gt;, refund"
    link = body["blocks"][3]["elements"][0]["text"]
    assert link.startswith(
        "<http://localhost:8501/?watch=acme&amp;alert=acme-20260302T011000Z|Open in dashboard>"
    )


def test_slack_quote_cannot_leave_its_block() -> None:
    alert = _alert(sample_posts=[{"text": "first\n> <!channel>\r\n\u2028second"}])
    quote = SlackChannel.payload(alert)["blocks"][2]["text"]["text"]
    assert quote == "> first &gt; &lt;!channel&gt; second"


def test_slack_link_url_is_escaped_too() -> None:
    alert = _alert(dashboard_url="https://dash.example/?a=1&b=<x>|y")
    link = SlackChannel.payload(alert)["blocks"][-1]["elements"][0]["text"]
    assert link.startswith("<https://dash.example/?a=1&amp;b=&lt;x&gt;%7Cy|Open in dashboard>")


def test_slack_truncates_long_posts_and_names_and_links_the_dashboard() -> None:
    alert = _alert(watch_name="W" * 300, sample_posts=[{"text": LONG}])
    payload = SlackChannel.payload(alert)
    quote = payload["blocks"][2]["text"]["text"]
    assert len(quote) <= len("> ") + QUOTE_CHARS and quote.endswith("…")
    assert "W" * 99 + "…" in payload["text"] and "W" * 101 not in payload["text"]
    assert "Open in dashboard" in payload["blocks"][-1]["elements"][0]["text"]


def test_slack_sends_the_idempotency_key(receiver: Receiver) -> None:
    SlackChannel(receiver.url).send(sample_alert(), "opened", "acme-1:opened")
    assert receiver.headers[0]["Idempotency-Key"] == "acme-1:opened"


# --- webhook and HTTP failures -------------------------------------------------------------


def test_webhook_body_and_headers_carry_event_and_idempotency_key(receiver: Receiver) -> None:
    alert = sample_alert()
    WebhookChannel(receiver.url).send(alert, "resolved", idempotency_key="k-1")
    body, headers = receiver.bodies[0], receiver.headers[0]
    assert body["event"] == "resolved" and body["idempotency_key"] == "k-1"
    assert Alert.model_validate(body) == alert  # the alert JSON itself is unchanged
    assert set(body) == set(Alert.model_fields) | {"event", "idempotency_key"}
    assert headers["X-Opinion-Event"] == "resolved" and headers["Idempotency-Key"] == "k-1"


def test_webhook_without_key_sends_no_key_header(receiver: Receiver) -> None:
    WebhookChannel(receiver.url).send(sample_alert(), "opened")  # positional, as before
    assert receiver.bodies[0]["idempotency_key"] is None
    assert "Idempotency-Key" not in receiver.headers[0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_client_errors_are_permanent(receiver: Receiver, status: int) -> None:
    receiver.status = status
    with pytest.raises(PermanentChannelError, match=f"HTTP {status}"):
        WebhookChannel(receiver.url).send(sample_alert())


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_timeouts_rate_limits_and_server_errors_are_transient(
    receiver: Receiver, status: int
) -> None:
    receiver.status = status
    with pytest.raises(ChannelError, match=f"HTTP {status}") as failure:
        SlackChannel(receiver.url).send(sample_alert())
    assert not isinstance(failure.value, PermanentChannelError)


def test_network_error_is_transient_and_hides_the_path(dead_url: str) -> None:
    with pytest.raises(ChannelError) as failure:
        WebhookChannel(f"{dead_url}/s3cret", timeout_s=2).send(sample_alert())
    assert not isinstance(failure.value, PermanentChannelError)
    assert "s3cret" not in str(failure.value) and "127.0.0.1" in str(failure.value)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/hooks/s3cret", "hooks/s3cret", "http://[::1/s3cret"]
)
def test_invalid_url_is_permanent_and_hides_the_path(url: str) -> None:
    with pytest.raises(PermanentChannelError) as failure:
        WebhookChannel(url).send(sample_alert())
    assert "s3cret" not in str(failure.value)


# --- Kafka ---------------------------------------------------------------------------------


class _Producer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, topic: str, **record: Any) -> Any:
        self.sent.append({"topic": topic, **record})
        return self

    def get(self, timeout: float) -> None:
        pass


def test_kafka_record_carries_the_idempotency_key() -> None:
    producer = _Producer()
    channel = KafkaChannel(_settings(), producer=producer)
    channel.send(sample_alert(), "opened", "acme-1:opened")
    channel.send(sample_alert(), "resolved")
    assert producer.sent[0]["headers"] == [
        ("event", b"opened"),
        ("idempotency-key", b"acme-1:opened"),
    ]
    assert producer.sent[1]["headers"] == [("event", b"resolved")]


# --- e-mail --------------------------------------------------------------------------------


class _FakeSMTP:
    """Records what a channel does with an SMTP connection; ``fail`` is raised on send."""

    sessions: ClassVar[list[_FakeSMTP]] = []
    fail: ClassVar[BaseException | None] = None

    def __init__(self, host: str, port: int, timeout: float, context: Any = None) -> None:
        self.connect_context = context
        self.calls: list[tuple[str, Any]] = []
        self.sessions.append(self)

    def __enter__(self) -> _FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("quit", None))

    def starttls(self, context: ssl.SSLContext | None = None) -> None:
        self.calls.append(("starttls", context))

    def login(self, user: str, password: str) -> None:
        self.calls.append(("login", user))

    def send_message(self, msg: email.message.EmailMessage) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append(("send", msg))


class _FakeSMTPSSL(_FakeSMTP):
    pass


@pytest.fixture()
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> list[_FakeSMTP]:
    sessions: list[_FakeSMTP] = []
    monkeypatch.setattr(_FakeSMTP, "sessions", sessions)
    monkeypatch.setattr(smtplib, "SMTP", _FakeSMTP)
    monkeypatch.setattr(smtplib, "SMTP_SSL", _FakeSMTPSSL)
    return sessions


def _email(**kw: Any) -> EmailChannel:
    return EmailChannel("smtp.example.org", 587, "monitor@example.org", ["ops@example.org"], **kw)


def _verifies(context: object) -> bool:
    return (
        isinstance(context, ssl.SSLContext)
        and context.check_hostname
        and context.verify_mode == ssl.CERT_REQUIRED
    )


def test_starttls_verifies_the_server_certificate(fake_smtp: list[_FakeSMTP]) -> None:
    _email(tls="starttls", username="bot", password="pw").send(sample_alert(), "opened")
    (session,) = fake_smtp
    assert type(session) is _FakeSMTP
    assert [name for name, _ in session.calls] == ["starttls", "login", "send", "quit"]
    assert _verifies(session.calls[0][1])


def test_smtps_connects_with_implicit_tls_that_verifies(fake_smtp: list[_FakeSMTP]) -> None:
    _email(tls="ssl").send(sample_alert())
    (session,) = fake_smtp
    assert type(session) is _FakeSMTPSSL and _verifies(session.connect_context)
    assert [name for name, _ in session.calls] == ["send", "quit"]


def test_ca_file_is_used_for_verification() -> None:
    channel = _email(tls="starttls", ca_file=Path(certifi.where()))
    assert channel.context is not None and channel.context.get_ca_certs()
    with pytest.raises(ConfigError, match="CA file"):
        _email(tls="ssl", ca_file=Path("/nonexistent/ca.pem"))


@pytest.mark.parametrize(
    ("settings", "tls"),
    [
        ({}, "none"),
        ({"alert_smtp_starttls": True}, "starttls"),
        ({"alert_smtp_tls": "ssl"}, "ssl"),
        ({"alert_smtp_tls": "none", "alert_smtp_starttls": True}, "none"),
    ],
)
def test_tls_mode_from_settings(settings: dict[str, Any], tls: str) -> None:
    base = {"alert_smtp_host": "smtp.example.org", "alert_email_to": "ops@example.org"}
    (channel,) = channels_from_settings(_settings(**base, **settings))
    assert isinstance(channel, EmailChannel) and channel.tls == tls


def test_older_starttls_env_var_still_means_starttls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPINION_ALERT_SMTP_STARTTLS", "true")
    monkeypatch.delenv("OPINION_ALERT_SMTP_TLS", raising=False)
    base = {"alert_smtp_host": "smtp.example.org", "alert_email_to": "ops@example.org"}
    (channel,) = channels_from_settings(_settings(**base))
    assert isinstance(channel, EmailChannel) and channel.tls == "starttls"


def test_watch_name_cannot_inject_headers(smtp_server: tuple[int, list[str]]) -> None:
    port, messages = smtp_server
    channel = EmailChannel("127.0.0.1", port, "monitor@example.org", ["ops@example.org"])
    watch = "Evil\r\nBcc: x@y\x00\u2028\nX-Evil: 1"
    channel.send(_alert(watch_name=watch, sample_posts=[{"text": "a\r\nBcc: z@y"}]))
    msg = email.message_from_string(messages[0], policy=email.policy.default)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert sorted(msg.keys()) == sorted(
        ["Subject", "From", "To", "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
    )
    assert msg["Subject"].startswith("[opinion] Negative spike [high] Evil Bcc: x@y X-Evil: 1:")


def test_email_truncates_posts_and_names_and_links_the_dashboard(
    fake_smtp: list[_FakeSMTP],
) -> None:
    _email().send(_alert(watch_name="W" * 300, sample_posts=[{"text": LONG}]))
    msg = fake_smtp[0].calls[0][1]
    body = msg.get_content()
    quote = next(line for line in body.splitlines() if line.startswith("- "))
    assert len(quote) <= len("- ") + QUOTE_CHARS and quote.endswith("…")
    assert "W" * 101 not in msg["Subject"] + body
    assert "Dashboard: http://localhost:8501/?watch=acme&alert=" in body


@pytest.mark.parametrize(
    "address", ["not-an-address", "ops@example.org\r\nBcc: x@y", "a@b, c@d", "@example.org", ""]
)
def test_malformed_recipient_fails_at_construction(address: str) -> None:
    with pytest.raises(ConfigError, match="recipient"):
        EmailChannel("smtp.example.org", 25, "monitor@example.org", [address])


def test_malformed_addresses_in_settings_fail_when_channels_are_built() -> None:
    base = {"alert_smtp_host": "smtp.example.org"}
    with pytest.raises(ConfigError, match="'nope'"):
        channels_from_settings(_settings(**base, alert_email_to="ops@example.org, nope"))
    with pytest.raises(ConfigError, match="sender"):
        channels_from_settings(
            _settings(**base, alert_email_to="ops@example.org", alert_email_from="bad sender")
        )
    (channel,) = channels_from_settings(
        _settings(**base, alert_email_to="Ops Team <ops@example.org>, lead@example.org")
    )
    assert isinstance(channel, EmailChannel) and len(channel.recipients) == 2


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"ops@example.org": (550, b"no such user")}), True),
        (smtplib.SMTPRecipientsRefused({"ops@example.org": (450, b"greylisted")}), False),
        (smtplib.SMTPSenderRefused(553, b"not allowed", "monitor@example.org"), True),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), True),
        (smtplib.SMTPDataError(554, b"rejected"), True),
        (smtplib.SMTPDataError(451, b"try later"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionResetError("reset"), False),
        (TimeoutError("timed out"), False),
    ],
)
def test_smtp_failures_are_classified(
    fake_smtp: list[_FakeSMTP],
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    permanent: bool,
) -> None:
    monkeypatch.setattr(_FakeSMTP, "fail", error)
    with pytest.raises(ChannelError, match=type(error).__name__) as failure:
        _email().send(sample_alert())
    assert isinstance(failure.value, PermanentChannelError) is permanent


def test_unreachable_smtp_server_is_transient(dead_url: str) -> None:
    port = int(dead_url.rsplit(":", 1)[1].split("/")[0])
    channel = EmailChannel("127.0.0.1", port, "monitor@example.org", ["ops@example.org"])
    with pytest.raises(ChannelError) as failure:
        channel.send(sample_alert())
    assert not isinstance(failure.value, PermanentChannelError)


# --- the summary line ----------------------------------------------------------------------


def _reason(kind: str, observed: float, expected: float) -> AlertReason:
    return AlertReason.model_validate(
        {"kind": kind, "observed": observed, "expected": expected, "ratio": observed / expected}
    )


WINDOW = "2026-03-02 01:10-01:12 UTC"


def test_summary_of_a_negative_share_alert() -> None:
    alert = _alert(
        watch_name="Northbank",
        volume=412,
        reasons=[_reason("negative_share", 0.78, 0.27)],
    )
    assert summary(alert) == (
        f"Negative spike [high] Northbank: 78% negative vs 27% baseline, 412 posts, {WINDOW}"
    )


def test_summary_of_a_mention_spike() -> None:
    alert = _alert(
        watch_name="Zentro",
        severity="low",
        kinds=["volume"],
        reasons=[_reason("volume", 420, 95)],
    )
    assert summary(alert) == (
        f"Mention spike [low] Zentro: 420 posts vs 95 expected (4.4x), {WINDOW}"
    )


def test_summary_of_a_negative_posts_surge() -> None:
    alert = _alert(
        watch_name="Brand",
        severity="medium",
        kinds=["negative_volume"],
        reasons=[_reason("negative_volume", 210, 20)],
    )
    assert summary(alert) == (
        f"Negative posts surge [medium] Brand: 210 negative posts vs 20 expected (10.5x), {WINDOW}"
    )


def test_summary_names_the_most_severe_kind_first_and_lists_the_others() -> None:
    alert = _alert(
        watch_name="Northbank",
        volume=412,
        kinds=["volume", "negative_share", "negative_volume"],
        reasons=[
            _reason("volume", 420, 95),
            _reason("negative_volume", 210, 20),
            _reason("negative_share", 0.78, 0.26),
        ],
    )
    assert summary(alert) == (
        f"Negative spike [high] Northbank: 78% negative vs 26% baseline, 412 posts, {WINDOW}; "
        "also: negative posts 10.5x, mention spike 4.4x"
    )
    assert summary(alert, "resolved").startswith("Resolved [high] Northbank: 78% negative")


def test_summary_without_reasons_keeps_the_share_wording() -> None:
    assert summary(sample_alert()) == (
        f"Negative spike [high] Acme Air: 82% negative vs 30% baseline, 41 posts, {WINDOW}"
    )
    assert summary(sample_alert(), "acknowledged").startswith("Acknowledged [high] Acme Air")
