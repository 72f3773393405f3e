"""Shared Streamlit pieces: the sign-in gate, the current user and role, time ranges and
small widgets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import streamlit as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from streamlit import config as st_config

from dashboard import data
from dashboard.accounts import (
    REQUIRED_ROLE,
    Account,
    AccountStore,
    Action,
    Role,
    normalize_name,
    permits,
    valid_name,
)
from dashboard.auth import (
    LEGACY_USER,
    LOCAL_USER,
    auth_mode,
    is_local_address,
    is_trusted_proxy,
    verify_password,
)
from dashboard.loginlimit import LoginLimiter, LoginLocked
from pipeline.config import ConfigError, Settings

USER_KEY = "auth_user"
"""Session state: the account name a password sign-in proved (server-side only)."""
NAME_KEY, ROLE_KEY = "user", "_auth_role"
"""Session state: who this run acts as, and their role (set by ``signed_in_user``)."""
RANGES: dict[str, int] = {"1 h": 3600, "24 h": 86_400, "7 d": 7 * 86_400}
GRANULARITIES: dict[str, int] = {"1 min": 60, "5 min": 300, "1 h": 3600, "1 d": 86_400}
RANGE_GRANULARITIES: dict[str, tuple[str, ...]] = {
    "1 h": ("1 min", "5 min"),
    "24 h": ("5 min", "1 h"),
    "7 d": ("1 h", "1 d"),
}
VERBS: dict[Action, str] = {
    "label": "label posts",
    "acknowledge": "acknowledge alerts",
    "resolve": "resolve alerts",
    "requeue": "re-queue deliveries",
    "edit_watches": "change watches",
}


@dataclass(frozen=True)
class Identity:
    """Who a session acts as."""

    name: str
    role: Role


def bind_address() -> str:
    """The address this Streamlit server really binds (empty: every interface)."""
    return str(st_config.get_option("server.address") or "").strip()


def client_address() -> str | None:
    """The connection's peer address (``None``: loopback, or no request context)."""
    try:
        return st.context.ip_address
    except Exception:  # no request context (e.g. bare script runs)
        return None


def _accounts(settings: Settings) -> AccountStore:
    return AccountStore(data.redis_connection(settings))


def current_mode(settings: Settings) -> str:
    """``auth_mode`` for the real bind address (counts accounts only where that decides)."""
    bind = bind_address()
    needs_count = not settings.dashboard_auth_header and is_local_address(bind)
    accounts = _accounts(settings).count() if needs_count else 0
    return auth_mode(settings, bind, accounts)


def _header_user(header: str) -> str | None:
    try:
        headers = st.context.headers
    except Exception:  # no request context (e.g. bare script runs)
        return None
    value = headers.get(header) if headers is not None else None
    return value.strip() or None if isinstance(value, str) else None


def _proxy_trusted(settings: Settings) -> bool:
    return is_local_address(bind_address()) or is_trusted_proxy(settings, client_address())


def _role_of(settings: Settings, name: str) -> Role | None:
    """The role of account ``name``; the deprecated hash's ``admin`` when it has no account."""
    account = _accounts(settings).get(name)
    if account is not None:
        return account.role
    if settings.dashboard_password_hash is not None and name == LEGACY_USER:
        return "admin"
    return None


def _resolve(settings: Settings) -> Identity | None:
    mode = current_mode(settings)
    if mode == "header":
        assert settings.dashboard_auth_header is not None
        name = normalize_name(_header_user(settings.dashboard_auth_header) or "")
        if not _proxy_trusted(settings) or not valid_name(name):
            return None
        account = _accounts(settings).get(name)
        return Identity(name, account.role if account else "viewer")
    if mode == "password":
        name = st.session_state.get(USER_KEY)
        role = _role_of(settings, str(name)) if name else None
        if role is None:  # never signed in, or the account was removed
            st.session_state.pop(USER_KEY, None)
            return None
        return Identity(str(name), role)
    return Identity(LOCAL_USER, "admin")


def signed_in_user(settings: Settings) -> Identity | None:
    """Who this session acts as (looked up afresh each call), or ``None``.

    Also records the name and role in the session for ``current_user`` and ``can``. A
    Redis failure stops the run with a message (no access without the accounts).
    """
    try:
        identity = _resolve(settings)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        st.error(f"Redis is unreachable ({exc}): check OPINION_REDIS_URL; no sign-in until then.")
        st.stop()
        raise AssertionError("unreachable") from exc
    st.session_state[NAME_KEY] = identity.name if identity else None
    st.session_state[ROLE_KEY] = identity.role if identity else None
    return identity


def _verify(settings: Settings, name: str, password: str) -> Account | None:
    """The account ``name``/``password`` proves (one scrypt either way)."""
    name = normalize_name(name)
    store = _accounts(settings)
    legacy = settings.dashboard_password_hash
    if legacy is not None and name == LEGACY_USER and store.get(name) is None:
        ok = verify_password(password, legacy.get_secret_value())
        return Account(LEGACY_USER, "admin") if ok else None
    return store.verify(name, password)


def _login_form(settings: Settings) -> None:
    st.title("Opinion monitor")
    st.caption("Sign in to continue.")
    with st.form("login", clear_on_submit=False):
        name = st.text_input("User name", key="login_name", max_chars=64)
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    limiter = LoginLimiter(data.redis_connection(settings), settings)
    try:
        attempt = limiter.begin(name, client_address())
    except LoginLocked as exc:
        minutes = max(1, round(exc.retry_after_s / 60))
        st.error(f"Too many failed sign-ins: try again in about {minutes} min.")
        return
    account = _verify(settings, name, password)
    if account is None:
        limiter.failed(attempt)
        st.error("Unknown user or wrong password.")
        return
    limiter.succeeded(attempt)
    st.session_state[USER_KEY] = account.name
    st.rerun()


def login_screen(settings: Settings) -> NoReturn:
    """What a session without a user sees (login form or the reason), then stop the run."""
    mode = current_mode(settings)
    if mode == "password":
        with data_errors():
            _login_form(settings)
    elif not _proxy_trusted(settings):
        st.error(
            "Not signed in: this request did not come from a trusted auth proxy "
            "(OPINION_DASHBOARD_TRUSTED_PROXIES)."
        )
    else:
        st.error(f"Not signed in: the auth proxy did not send {settings.dashboard_auth_header!r}.")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def current_user() -> str:
    """The user ``signed_in_user`` let in this run (``analyst`` on an open localhost server)."""
    return str(st.session_state.get(NAME_KEY) or LOCAL_USER)


def current_role() -> Role | None:
    """The role ``signed_in_user`` found this run (``None``: not signed in)."""
    return st.session_state.get(ROLE_KEY)


def can(action: Action) -> bool:
    """Whether this run's role may do ``action``: to show or disable its controls."""
    return permits(current_role(), action)


def authorize(action: Action) -> bool:
    """Whether the session may do ``action`` now (identity and role looked up afresh): call it
    in every action callback, so that a crafted rerun of a hidden or disabled control fails."""
    identity = signed_in_user(data.settings())
    return identity is not None and permits(identity.role, action)


def denied(action: Action) -> str:
    """The message for a refused ``action``."""
    return (
        f"Your role ({current_role() or 'none'}) may not {VERBS[action]}: that needs "
        f"{REQUIRED_ROLE[action]} (ask an admin: `opinion dashboard set-role`)."
    )


@contextmanager
def data_errors() -> Iterator[None]:
    """Show an unreachable Redis (or missing configuration) as a message, not a traceback."""
    try:
        yield
    except ConfigError as exc:
        st.error(str(exc))
    except (RedisConnectionError, RedisTimeoutError) as exc:
        st.error(
            f"Redis is unreachable ({exc}): run `opinion stack up`, or check OPINION_REDIS_URL."
        )


def sign_out() -> None:
    """Button callback: forget the signed-in user (the next run shows the login)."""
    for key in (USER_KEY, NAME_KEY, ROLE_KEY):
        st.session_state.pop(key, None)


def now_utc() -> datetime:
    return datetime.now(UTC)


def ceil_time(value: datetime, width_s: int) -> datetime:
    ts = int(value.timestamp())
    return datetime.fromtimestamp(-(-ts // width_s) * width_s, UTC)


def window(end: datetime, range_s: int, granularity_s: int) -> tuple[datetime, datetime]:
    """``[since, until)`` of ``range_s`` ending at ``end``, aligned to whole buckets."""
    until = ceil_time(end, granularity_s)
    return until - timedelta(seconds=range_s), until


def fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def fmt_share(value: float) -> str:
    return f"{value:.0%}"
