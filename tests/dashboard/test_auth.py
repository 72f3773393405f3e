"""Access control: password hashes, the bind rule, the CLI's refusal, the login gate and the
auth-proxy header (accounts, roles and the sign-in limit: test_accounts.py)."""

from __future__ import annotations

import os

import pytest
import typer
from typer.testing import CliRunner

from dashboard.accounts import AccountStore
from dashboard.auth import (
    AuthConfigError,
    auth_mode,
    check_bind,
    hash_password,
    is_local_address,
    is_trusted_proxy,
    verify_password,
)
from dashboard.cli import register, streamlit_argv
from pipeline.config import Settings, get_settings
from tests.dashboard.helpers import app_test, bind, page_text, sign_in


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
        (None, False),
        ("dashboard.example.org", False),
    ],
)
def test_local_addresses(address: str | None, local: bool) -> None:
    assert is_local_address(address) is local


def test_bind_rule() -> None:
    base = Settings(_env_file=None)
    check_bind(base)  # localhost, no auth: fine
    assert auth_mode(base) == "none" and auth_mode(base, accounts=1) == "password"
    assert auth_mode(base, bind_address="") == "password"  # every interface
    exposed = base.model_copy(update={"dashboard_address": "0.0.0.0"})
    with pytest.raises(AuthConfigError, match="opinion dashboard add-user"):
        check_bind(exposed)
    check_bind(exposed, accounts=1)
    with_hash = exposed.model_copy(update={"dashboard_password_hash": hash_password("pw")})
    check_bind(with_hash)
    assert auth_mode(with_hash) == "password"
    with_proxy = exposed.model_copy(update={"dashboard_auth_header": "X-Forwarded-User"})
    with pytest.raises(AuthConfigError, match="OPINION_DASHBOARD_TRUSTED_PROXIES"):
        check_bind(with_proxy)  # the header would be trusted from anyone
    check_bind(with_proxy.model_copy(update={"dashboard_trusted_proxies": ("10.0.0.2/32",)}))
    assert auth_mode(with_proxy) == "header"
    check_bind(base.model_copy(update={"dashboard_auth_header": "X-Forwarded-User"}))


def test_trusted_proxies() -> None:
    s = Settings(_env_file=None, dashboard_trusted_proxies=["10.0.0.2", "192.168.0.0/24"])
    assert s.dashboard_trusted_proxies == ("10.0.0.2/32", "192.168.0.0/24")
    assert is_trusted_proxy(s, "10.0.0.2") and is_trusted_proxy(s, "192.168.0.77")
    assert not is_trusted_proxy(s, "10.0.0.3") and not is_trusted_proxy(s, "garbage")
    assert not is_trusted_proxy(s, None)  # loopback, not listed
    assert is_trusted_proxy(s.model_copy(update={"dashboard_trusted_proxies": ("::1/128",)}), None)
    with pytest.raises(ValueError):
        Settings(_env_file=None, dashboard_trusted_proxies=["not-an-ip"])


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path) -> typer.Typer:
    for name in list(os.environ):
        if name.startswith("OPINION_DASHBOARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    yield app
    get_settings.cache_clear()


def test_cli_refuses_to_serve_off_localhost_without_accounts(cli: typer.Typer, monkeypatch) -> None:
    def no_exec(*args: object) -> None:
        raise AssertionError("must not start Streamlit")

    monkeypatch.setattr("os.execve", no_exec)
    monkeypatch.setattr("dashboard.cli._count_accounts", lambda settings: 0)
    result = CliRunner().invoke(cli, ["dashboard", "--address", "0.0.0.0", "--port", "9999"])
    assert result.exit_code == 2
    assert "refusing to serve the dashboard on '0.0.0.0'" in result.output
    assert "opinion dashboard add-user NAME --role admin" in result.output
    monkeypatch.setenv("OPINION_DASHBOARD_AUTH_HEADER", "X-Forwarded-User")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["dashboard", "--address", "0.0.0.0", "--port", "9999"])
    assert result.exit_code == 2 and "OPINION_DASHBOARD_TRUSTED_PROXIES" in result.output


def test_cli_starts_streamlit_on_the_configured_port(cli: typer.Typer, monkeypatch) -> None:
    calls: list[tuple] = []
    monkeypatch.setattr("os.execve", lambda *args: calls.append(args))
    monkeypatch.setattr("dashboard.cli._count_accounts", lambda settings: 2)
    result = CliRunner().invoke(cli, ["dashboard", "--address", "0.0.0.0", "--port", "9999"])
    assert result.exit_code == 0, result.output
    ((_, argv, env),) = calls
    # Streamlit's own command line, run by the launcher that preloads the app's modules
    assert argv[1:4] == ["-m", "dashboard.serve", "run"] and argv[4].endswith("dashboard/app.py")
    assert "--runner.postScriptGC=false" in argv  # no full GC after every run (issue 20)
    assert "--server.port=9999" in argv and "--server.address=0.0.0.0" in argv
    assert env["OPINION_DASHBOARD_PORT"] == "9999"
    assert streamlit_argv(Settings(_env_file=None))[5] == "--server.port=8501"


def test_cli_warns_that_the_password_hash_is_deprecated(cli: typer.Typer, monkeypatch) -> None:
    monkeypatch.setattr("os.execve", lambda *args: None)
    monkeypatch.setenv("OPINION_DASHBOARD_PASSWORD_HASH", hash_password("pw"))
    result = CliRunner().invoke(cli, ["dashboard", "--address", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    assert "OPINION_DASHBOARD_PASSWORD_HASH is deprecated" in result.output


def test_hash_password_command(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["dashboard", "hash-password"], input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    assert verify_password("s3cret", result.output.strip().splitlines()[-1])
    piped = CliRunner().invoke(cli, ["dashboard", "hash-password", "--stdin"], input="pw\n")
    assert piped.exit_code == 0 and verify_password("pw", piped.output.strip())


@pytest.mark.integration
def test_login_gate(dash_settings, redis_db) -> None:
    AccountStore(redis_db).add("alice", "analyst", "s3cret")
    AccountStore(redis_db).add("root", "admin", "other")
    at = app_test()  # bound to loopback, but an account exists: sign-in required
    assert "Sign in to continue." in page_text(at) and not at.get("vega_lite_chart")
    assert "Overview" not in [t.value for t in at.title]
    sign_in(at, "alice", "wrong")
    assert "Unknown user or wrong password." in page_text(at)
    sign_in(at, "Alice", "s3cret")
    assert [t.value for t in at.title] == ["Overview"]
    assert "Signed in as **alice** (analyst)" in [c.value for c in at.sidebar.caption]
    at.sidebar.button(key="logout").click().run()
    assert "Sign in to continue." in page_text(at)
    sign_in(at, "alice", "s3cret")
    AccountStore(redis_db).remove("alice")  # removed: signed out at the next run
    at.run()
    assert "Sign in to continue." in page_text(at)


@pytest.mark.integration
def test_open_only_on_a_loopback_bind(dash_settings) -> None:
    at = app_test()
    assert [t.value for t in at.title] == ["Overview"]
    assert "Signed in as **analyst** (admin)" in [c.value for c in at.sidebar.caption]
    for address in (None, "", "0.0.0.0", "10.1.2.3"):  # what Streamlit binds, not the setting
        bind(address)
        at = app_test()
        assert "Sign in to continue." in page_text(at) and not at.title[1:], address


@pytest.mark.integration
def test_deprecated_password_hash_is_one_admin_account(dash_settings, monkeypatch) -> None:
    monkeypatch.setenv("OPINION_DASHBOARD_PASSWORD_HASH", hash_password("s3cret"))
    at = sign_in(app_test(), "alice", "s3cret")  # a free-text name no longer works
    assert "Unknown user or wrong password." in page_text(at)
    sign_in(at, "admin", "s3cret")
    assert "Signed in as **admin** (admin)" in [c.value for c in at.sidebar.caption]


@pytest.mark.integration
def test_proxy_header_only_from_a_trusted_proxy(dash_settings, redis_db, monkeypatch) -> None:
    from dashboard import ui

    monkeypatch.setenv("OPINION_DASHBOARD_AUTH_HEADER", "X-Forwarded-User")
    at = app_test()
    assert "the auth proxy did not send 'X-Forwarded-User'" in page_text(at)
    assert not at.title
    AccountStore(redis_db).add("bob", "analyst", None)
    monkeypatch.setattr(ui, "_header_user", lambda header: "Bob")
    at = app_test()  # loopback bind: the proxy is on this host
    assert "Signed in as **bob** (analyst)" in [c.value for c in at.sidebar.caption]
    bind("0.0.0.0")
    monkeypatch.setattr(ui, "client_address", lambda: "10.0.0.9")
    at = app_test()
    assert "did not come from a trusted auth proxy" in page_text(at) and not at.title
    monkeypatch.setenv("OPINION_DASHBOARD_TRUSTED_PROXIES", '["10.0.0.0/24"]')
    at = app_test()
    assert "Signed in as **bob** (analyst)" in [c.value for c in at.sidebar.caption]
    monkeypatch.setattr(ui, "_header_user", lambda header: "carol")  # no account: viewer
    at = app_test()
    assert "Signed in as **carol** (viewer)" in [c.value for c in at.sidebar.caption]
