"""No secrets in the repository, and none in the messages the commands print.

The repository scan covers every file git would commit (tracked, plus untracked files that
are not ignored): private keys, cloud/API tokens, credentials inside URLs, committed ``.env``
files and key stores, and hard-coded passwords outside the tests.
"""

from __future__ import annotations

import re
import subprocess
import traceback
from pathlib import Path

import pytest

from devkit.stack.processes import free_port
from pipeline.alerting.channels import ChannelError, SlackChannel, WebhookChannel
from pipeline.config import Settings
from pipeline.redis_io import redact_url
from pipeline.worker.runner import preflight
from tests.alerting.servers import Receiver, sample_alert

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 5_000_000

TOKENS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/\w{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "OpenAI/Anthropic key": re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_-]{32,}"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "JWT": re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}"),
}
URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"`]*:([^@\s/'\"`]+)@")
ASSIGNED = re.compile(
    r"(?i)\b(?:\w*_)?(?:password|passwd|secret|token|api_?key)s?\b['\"]?\s*[:=]\s*"
    r"['\"]([^'\"\s]{6,})['\"]"
)
# Values that are visibly not real secrets (placeholders, test fixtures, env references).
PLACEHOLDER = re.compile(
    r"(?i)^(?:pwd?|\[[^]]*\]|<[^>]*>|\*+|\$\{.*\}|\$\$?\w+|\{[^}]*\}|.*(?:test|example|"
    r"dummy|placeholder|changeme|secret|password|pass|xxx|your|fake|sample|default-salt|"
    r"localhost).*)$"
)
BAD_NAMES = re.compile(r"(?:^|/)(?:\.env(?:\.[\w-]+)?|id_[rd]sa|.*\.(?:pem|key|p12|pfx|jks))$")


def repo_files() -> list[Path]:
    """What git would commit: tracked files and untracked ones that are not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    """The file as text, or None for binaries and very large files."""
    if path.stat().st_size > MAX_BYTES:
        return None
    data = path.read_bytes()
    return None if b"\0" in data[:8192] else data.decode("utf-8", errors="replace")


def scan(path: Path, text: str) -> list[str]:
    """Findings in one file, as ``path:line: what``."""
    rel = path.relative_to(ROOT).as_posix()
    in_tests = rel.startswith("tests/")
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in TOKENS.items():
            if pattern.search(line):
                found.append(f"{rel}:{number}: {what}")
        for match in URL_CREDENTIALS.finditer(line):
            if not PLACEHOLDER.match(match.group(1)):
                found.append(f"{rel}:{number}: credentials in a URL")
        if not in_tests:
            for match in ASSIGNED.finditer(line):
                if not PLACEHOLDER.match(match.group(1)):
                    found.append(f"{rel}:{number}: hard-coded secret {match.group(1)[:3]}...")
    return found


def test_no_secrets_in_the_repository() -> None:
    files = repo_files()
    assert len(files) > 50, "git ls-files found almost nothing: wrong root?"
    findings = [f"{p.relative_to(ROOT)}: secret-looking file name" for p in files
                if BAD_NAMES.search(p.relative_to(ROOT).as_posix())
                and not p.name.endswith(".example")]  # fmt: skip
    for path in files:
        text = text_of(path)
        if text is not None:
            findings += scan(path, text)
    assert not findings, "\n".join(findings)


# Samples assembled at run time, so that this file itself stays clean for the scan.
@pytest.mark.parametrize(
    ("line", "hit"),
    [
        ("-----BEGIN RSA " + "PRIVATE KEY-----", True),
        ("aws_key = '" + "AKIA" + "ABCDEFGHIJKLMNOP'", True),
        ("url = 'redis://:" + "hunter2hunter@redis:6379/0'", True),
        ("redis_password = '" + "Tr0ub4dor&3x'", True),
        ('"tokenizer_class": "BertTokenizer"', False),
        ("url: redis://:${REDIS_PASSWORD}@redis:6379/0", False),
        ("password = os.environ['REDIS_PASSWORD']", False),
        ("redis://user:***@host/0", False),
        ("redis://user:pw@host/0", False),
    ],
)
def test_the_scanner_finds_what_it_should(line: str, hit: bool, tmp_path: Path) -> None:
    path = ROOT / "pipeline" / "example.py"  # scanned as non-test code; never written
    assert bool(scan(path, line)) is hit


def test_redis_urls_are_redacted_in_messages() -> None:
    secret = "s3cr" + "3t"
    assert redact_url(f"redis://:{secret}@db:6379/0") == "redis://:***@db:6379/0"
    assert redact_url(f"rediss://app:{secret}@db:6380/1") == "rediss://app:***@db:6380/1"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    settings = Settings(
        _env_file=None,
        kafka_bootstrap="127.0.0.1:1",
        redis_url="redis://app:" + "Very-S3cret-Pw@127.0.0.1:1/0",
        kafka_connect_timeout_s=0.5,
    )
    message = preflight(settings) or ""
    assert message and "Very-S3cret-Pw" not in message


def test_secrets_are_hidden_in_settings_reprs() -> None:
    settings = Settings(
        _env_file=None,
        redis_password="Pw-One-8c1",
        kafka_sasl_password="Pw-Two-1d2",
        author_hash_salt="Salt-3e4",
        alert_smtp_password="Pw-Four-5f6",
    )
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert not any(s in shown for s in ("Pw-One-8c1", "Pw-Two-1d2", "Salt-3e4", "Pw-Four-5f6"))


def test_webhook_failures_do_not_reveal_the_url() -> None:
    """A webhook URL is a credential (Slack's is the whole secret): failure messages, which
    the alert outbox logs and stores in Redis, name only the endpoint."""
    receiver = Receiver()
    receiver.status = 503
    secret = "T0SECRET/B0SECRET/hook-token-5e2a"
    closed = f"http://127.0.0.1:{free_port()}/services/{secret}"
    try:
        for channel in (WebhookChannel(f"{receiver.url}/{secret}"),
                        SlackChannel(f"{receiver.url}/{secret}"),
                        WebhookChannel(closed, timeout_s=2)):  # fmt: skip
            with pytest.raises(ChannelError) as failure:
                channel.send(sample_alert())
            assert "127.0.0.1" in str(failure.value)
            # not in the message, nor in a logged traceback (chained exceptions included)
            assert secret not in "".join(traceback.format_exception(failure.value))
    finally:
        receiver.close()
    assert receiver.hits == 2
