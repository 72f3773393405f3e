"""Accounts and roles in Redis, the sign-in limit, the account commands, and roles enforced on
the pages (controls disabled, and a crafted click of a disabled control refused)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
import typer
from streamlit.testing.v1.element_tree import Button
from typer.testing import CliRunner

from dashboard.accounts import ACCOUNTS_KEY, ROLES, AccountError, AccountStore, permits
from dashboard.cli import register
from dashboard.data import LABELED_KEY
from dashboard.loginlimit import LoginLimiter, LoginLocked
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings, get_settings
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from tests.dashboard.helpers import alert, app_test, page_text, post, sign_in


def test_roles_are_ordered() -> None:
    assert ROLES == ("viewer", "analyst", "admin")
    assert not any(permits("viewer", a) for a in ("label", "acknowledge", "edit_watches"))
    assert permits("analyst", "label") and permits("analyst", "acknowledge")
    assert not permits("analyst", "resolve") and not permits("analyst", "edit_watches")
    assert all(permits("admin", a) for a in ("label", "resolve", "requeue", "edit_watches"))
    assert not permits(None, "label")


@pytest.mark.integration
def test_account_store(redis_db) -> None:
    store = AccountStore(redis_db)
    store.add(" Alice ", "analyst", "pw-alice")
    assert store.get("ALICE") == store.get("alice") and store.get("alice").role == "analyst"
    assert b"pw-alice" not in redis_db.hget(ACCOUNTS_KEY, "alice")  # a salted hash only
    with pytest.raises(AccountError, match="exists"):
        store.add("alice", "admin", "x")
    with pytest.raises(AccountError, match="unknown role"):
        store.add("bob", "root", "x")
    with pytest.raises(AccountError, match="invalid user name"):
        store.add("bob smith", "viewer", "x")
    assert store.verify("alice", "pw-alice").name == "alice"
    assert store.verify("alice", "nope") is None and store.verify("nobody", "pw-alice") is None
    store.set_role("alice", "viewer")
    store.set_password("alice", "new")
    assert store.verify("alice", "new").role == "viewer"
    store.add("proxy-user", "admin", None)  # no password: never signs in with the form
    assert store.verify("proxy-user", "") is None
    assert [a.name for a in store.all()] == ["alice", "proxy-user"] and store.count() == 2
    assert store.remove("alice") and not store.remove("alice")
    with pytest.raises(AccountError, match="no user"):
        store.set_role("alice", "admin")


def _limiter(redis_db, **limits: int) -> LoginLimiter:
    return LoginLimiter(redis_db, Settings(_env_file=None, **limits))


@pytest.mark.integration
def test_limit_per_user_and_per_address(redis_db) -> None:
    limiter = _limiter(redis_db)
    started = [limiter.failed(limiter.begin("alice", f"10.0.0.{i}")) for i in range(5)]
    assert started == [False] * 4 + [True]  # one user from five addresses: the 5th locks
    with pytest.raises(LoginLocked) as locked:
        limiter.begin("alice", "10.9.9.9")
    assert 890 <= locked.value.retry_after_s <= 900
    limiter.succeeded(limiter.begin("bob", "10.0.0.1"))  # others are not affected
    for name in ("u1", "u2", "u3", "u4", "u5"):  # five users from one address
        limiter.failed(limiter.begin(name, "10.7.7.7"))
    with pytest.raises(LoginLocked):
        limiter.begin("u6", "10.7.7.7")
    assert limiter.clear(user="alice") == 1  # the lock (the tries went with it)
    limiter.succeeded(limiter.begin("alice", "10.9.9.9"))


@pytest.mark.integration
def test_limit_counts_tries_in_flight_and_expires(redis_db) -> None:
    limiter = _limiter(redis_db, dashboard_login_lockout_s=1)
    for _ in range(3):  # successes do not count
        limiter.succeeded(limiter.begin("carol", "10.0.0.1"))
    pending = [limiter.begin("carol", "10.0.0.1") for _ in range(5)]  # concurrent, unfinished
    with pytest.raises(LoginLocked):
        limiter.begin("carol", "10.0.0.1")
    assert pending
    time.sleep(1.1)
    limiter.succeeded(limiter.begin("carol", "10.0.0.1"))  # lockout over: a fresh window


@pytest.fixture()
def cli(redis_db, stack_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("OPINION_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPINION_REDIS_URL", stack_settings.resolved_redis_url())
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    yield app
    get_settings.cache_clear()


@pytest.mark.integration
def test_account_commands(cli: typer.Typer, redis_db) -> None:
    run = CliRunner().invoke
    added = run(cli, ["dashboard", "add-user", "Dana", "--role", "analyst"], input="pw1\npw1\n")
    assert added.exit_code == 0 and "added dana (analyst)" in added.output
    piped = run(cli, ["dashboard", "add-user", "eve", "--role", "viewer", "--stdin"], input="x\n")
    assert piped.exit_code == 0, piped.output
    again = run(cli, ["dashboard", "add-user", "dana", "--role", "admin", "--stdin"], input="y\n")
    assert again.exit_code == 2 and "exists" in again.output
    bad = run(cli, ["dashboard", "add-user", "fred", "--role", "boss", "--stdin"], input="y\n")
    assert bad.exit_code == 2 and "unknown role 'boss'" in bad.output
    assert run(cli, ["dashboard", "set-role", "eve", "admin"]).exit_code == 0
    assert run(cli, ["dashboard", "set-password", "eve", "--stdin"], input="z\n").exit_code == 0
    listed = run(cli, ["dashboard", "list-users"]).output.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        ["dana", "analyst", "password"],
        ["eve", "admin", "password"],
    ]
    assert AccountStore(redis_db).verify("eve", "z") is not None
    assert run(cli, ["dashboard", "remove-user", "eve"]).exit_code == 0
    assert run(cli, ["dashboard", "remove-user", "eve"]).exit_code == 2
    assert run(cli, ["dashboard", "unlock", "--user", "dana"]).exit_code == 0


@pytest.mark.integration
def test_fifty_failed_sign_ins_from_fresh_sessions(dash_settings, redis_db, monkeypatch) -> None:
    """From the 6th try on, a fresh session is refused before any scrypt runs."""
    AccountStore(redis_db).add("alice", "analyst", "s3cret")
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    for attempt in range(1, 51):
        at = sign_in(app_test(), "alice", f"guess-{attempt}")
        text = page_text(at)
        if attempt <= 5:
            assert "Unknown user or wrong password." in text and len(calls) == attempt
        else:
            assert "Too many failed sign-ins" in text and len(calls) == 5, attempt
    at = sign_in(app_test(), "alice", "s3cret")  # even the right password, until it expires
    assert "Too many failed sign-ins" in page_text(at) and len(calls) == 5


def crafted_click(button: Button) -> None:
    """Click a disabled button anyway, as a forged client message could, and rerun."""
    button.proto.disabled = False
    button.click().run()


def _seed(settings: Settings, redis_db) -> None:
    WatchStore(redis_db).put(Watch(id="acme-air", name="Acme Air", query='"acme air"'))
    negative = post("a-neg-0", "negative")
    AggregateStore(redis_db, settings).record_batch([negative])
    samples = [negative.model_dump(mode="json")]
    AlertStore(redis_db, settings).open(alert("acme-air-1", samples=samples))
    store = AccountStore(redis_db)
    store.add("vera", "viewer", "pw-vera")
    store.add("ana", "analyst", "pw-ana")
    store.add("root", "admin", "pw-root")


@pytest.mark.integration
def test_a_viewer_cannot_label_change_watches_or_act_on_alerts(dash_settings, redis_db) -> None:
    _seed(dash_settings, redis_db)
    at = sign_in(app_test(), "vera", "pw-vera")
    at.switch_page("views/labeling.py").run()
    assert at.button(key="lb_negative").disabled and not at.button(key="lb_skip").disabled
    assert "Your role (viewer) may not label posts" in page_text(at)
    crafted_click(at.button(key="lb_negative"))  # Streamlit drops it; nothing is published
    assert not redis_db.smembers(LABELED_KEY)

    at.switch_page("views/watches.py").run()
    at.selectbox(key="wt_pick").set_value("acme-air").run()
    save = next(b for b in at.button if b.label == "Save watch")
    assert at.button(key="wt_toggle_acme-air").disabled and save.disabled
    assert "may not change watches" in page_text(at)
    crafted_click(at.button(key="wt_toggle_acme-air"))
    at.text_input(key="wf_q_acme-air").set_value("hijacked")
    crafted_click(next(b for b in at.button if b.label == "Save watch"))
    watch = WatchStore(redis_db).get("acme-air")
    assert watch is not None and watch.enabled and watch.query == '"acme air"'

    at.switch_page("views/alerts.py").run()
    ack, resolve = at.button(key="ack-acme-air-1"), at.button(key="resolve-acme-air-1")
    assert ack.disabled and resolve.disabled
    crafted_click(ack)
    assert AlertStore(redis_db, dash_settings).get("acme-air-1").state == "firing"


@pytest.mark.integration
def test_actions_check_the_role_afresh(dash_settings, redis_db) -> None:
    """A control drawn enabled, clicked after the user's role was lowered, is refused."""
    _seed(dash_settings, redis_db)
    accounts = AccountStore(redis_db)
    at = sign_in(app_test(), "ana", "pw-ana")
    at.switch_page("views/alerts.py").run()
    assert at.button(key="resolve-acme-air-1").disabled  # an analyst acknowledges only
    accounts.set_role("ana", "viewer")
    at.button(key="ack-acme-air-1").click().run()
    assert "Your role (viewer) may not acknowledge alerts" in page_text(at)
    assert AlertStore(redis_db, dash_settings).get("acme-air-1").state == "firing"
    accounts.set_role("ana", "analyst")
    at.run().button(key="ack-acme-air-1").click().run()
    acked = AlertStore(redis_db, dash_settings).get("acme-air-1")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "ana"

    at.switch_page("views/labeling.py").run()
    accounts.set_role("ana", "viewer")
    at.button(key="lb_negative").click().run()
    assert "Your role (viewer) may not label posts" in page_text(at)
    assert not redis_db.smembers(LABELED_KEY)

    at = sign_in(app_test(), "root", "pw-root")
    at.switch_page("views/watches.py").run()
    at.selectbox(key="wt_pick").set_value("acme-air").run()
    accounts.set_role("root", "analyst")
    at.button(key="wt_toggle_acme-air").click().run()
    assert "Your role (analyst) may not change watches" in page_text(at)
    assert WatchStore(redis_db).get("acme-air").enabled
