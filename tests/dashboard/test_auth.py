"""Access control: password hashes, the bind rule, the CLI's refusal and the login gate."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from dashboard.auth import (
    AuthConfigError,
    auth_mode,
    check_bind,
    hash_password,
    is_local_address,
    verify_password,
)
from dashboard.cli import register, streamlit_argv
from pipeline.config import Settings, get_settings
from tests.dashboard.helpers import app_test, page_text


def test_hash_roundtrip_is_salted_and_strict() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt:") and "$" not in first
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct hors", first)
    assert not verify_password("x", "garbage") and not verify_password("x", "scrypt:1:2")
    with pytest.raises(ValueError):
        hash_password("")


def test_pbkdf2_hashes_are_accepted() -> None:
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    key = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1000)
    encoded = (
        f"pbkdf2_sha256$1000${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    )
    assert verify_password("pw", encoded) and not verify_password("pw2", encoded)


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        ("10.0.0.5", False),
        ("::", False),
        ("dashboard.example.org", False),
    ],
)
def test_local_addresses(address: str, local: bool) -> None:
    assert is_local_address(address) is local


def test_bind_rule() -> None:
    base = Settings(_env_file=None)
    check_bind(base)  # localhost, no auth: fine
    exposed = base.model_copy(update={"dashboard_address": "0.0.0.0"})
    with pytest.raises(AuthConfigError, match="OPINION_DASHBOARD_PASSWORD_HASH"):
        check_bind(exposed)
    with_hash = exposed.model_copy(update={"dashboard_password_hash": hash_password("pw")})
    check_bind(with_hash)
    assert auth_mode(with_hash) == "password"
    with_proxy = exposed.model_copy(update={"dashboard_auth_header": "X-Forwarded-User"})
    check_bind(with_proxy)
    assert auth_mode(with_proxy) == "header"


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path) -> typer.Typer:
    for name in ("OPINION_DASHBOARD_PASSWORD_HASH", "OPINION_DASHBOARD_AUTH_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    yield app
    get_settings.cache_clear()


def test_cli_refuses_to_serve_off_localhost_without_auth(cli: typer.Typer, monkeypatch) -> None:
    def no_exec(*args: object) -> None:
        raise AssertionError("must not start Streamlit")

    monkeypatch.setattr("os.execve", no_exec)
    result = CliRunner().invoke(cli, ["dashboard", "--address", "0.0.0.0", "--port", "9999"])
    assert result.exit_code == 2
    assert "refusing to serve the dashboard on '0.0.0.0'" in result.output
    assert "hash-password" in result.output


def test_cli_starts_streamlit_on_the_configured_port(cli: typer.Typer, monkeypatch) -> None:
    calls: list[tuple] = []
    monkeypatch.setattr("os.execve", lambda *args: calls.append(args))
    monkeypatch.setenv("OPINION_DASHBOARD_AUTH_HEADER", "X-Forwarded-User")
    result = CliRunner().invoke(cli, ["dashboard", "--address", "0.0.0.0", "--port", "9999"])
    assert result.exit_code == 0, result.output
    ((_, argv, env),) = calls
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("dashboard/app.py")
    assert "--server.port=9999" in argv and "--server.address=0.0.0.0" in argv
    assert env["OPINION_DASHBOARD_PORT"] == "9999"
    assert streamlit_argv(Settings(_env_file=None))[5] == "--server.port=8501"


def test_hash_password_command(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["dashboard", "hash-password"], input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    assert verify_password("s3cret", result.output.strip().splitlines()[-1])
    piped = CliRunner().invoke(cli, ["dashboard", "hash-password", "--stdin"], input="pw\n")
    assert piped.exit_code == 0 and verify_password("pw", piped.output.strip())


@pytest.mark.integration
def test_login_gate(dash_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPINION_DASHBOARD_PASSWORD_HASH", hash_password("s3cret"))
    at = app_test()
    assert "Sign in to continue." in page_text(at) and not at.get("vega_lite_chart")
    assert "Overview" not in [t.value for t in at.title]
    at.text_input(key="login_name").set_value("alice")
    at.text_input(key="login_password").set_value("wrong")
    at.button[0].click().run()
    assert "Enter your name and the correct password." in page_text(at)
    at.text_input(key="login_password").set_value("s3cret")
    at.button[0].click().run()
    assert [t.value for t in at.title] == ["Overview"]
    assert "Signed in as **alice**" in [c.value for c in at.sidebar.caption]
    at.sidebar.button(key="logout").click().run()
    assert "Sign in to continue." in page_text(at)


@pytest.mark.integration
def test_app_refuses_off_localhost_without_auth(dash_settings, monkeypatch) -> None:
    monkeypatch.setenv("OPINION_DASHBOARD_ADDRESS", "0.0.0.0")
    at = app_test()
    assert "bound off-localhost without access control" in page_text(at)
    assert not at.title


@pytest.mark.integration
def test_proxy_header_required_when_configured(dash_settings, monkeypatch) -> None:
    monkeypatch.setenv("OPINION_DASHBOARD_AUTH_HEADER", "X-Forwarded-User")
    at = app_test()
    assert "the auth proxy did not send 'X-Forwarded-User'" in page_text(at)
    assert not at.title
