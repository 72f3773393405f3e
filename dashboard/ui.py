"""Shared Streamlit pieces: the login gate, the current user, time ranges and small widgets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import streamlit as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dashboard.auth import LOCAL_USER, auth_mode, is_local_address, verify_password
from pipeline.config import ConfigError, Settings

USER_KEY = "auth_user"
FAILS_KEY = "auth_failures"
RANGES: dict[str, int] = {"1 h": 3600, "24 h": 86_400, "7 d": 7 * 86_400}
GRANULARITIES: dict[str, int] = {"1 min": 60, "5 min": 300, "1 h": 3600, "1 d": 86_400}
RANGE_GRANULARITIES: dict[str, tuple[str, ...]] = {
    "1 h": ("1 min", "5 min"),
    "24 h": ("5 min", "1 h"),
    "7 d": ("1 h", "1 d"),
}


def _header_user(header: str) -> str | None:
    try:
        headers = st.context.headers
    except Exception:  # no request context (e.g. bare script runs)
        return None
    value = headers.get(header) if headers is not None else None
    return value.strip() or None if isinstance(value, str) else None


def _login_form(settings: Settings) -> None:
    assert settings.dashboard_password_hash is not None
    st.title("Opinion monitor")
    st.caption("Sign in to continue.")
    with st.form("login", clear_on_submit=False):
        name = st.text_input("Your name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    failures = int(st.session_state.get(FAILS_KEY, 0))
    if failures >= 3:
        time.sleep(min(5.0, 0.5 * failures))  # slow down guessing
    ok = verify_password(password, settings.dashboard_password_hash.get_secret_value())
    if ok and name.strip():
        st.session_state[USER_KEY] = name.strip()
        st.session_state[FAILS_KEY] = 0
        st.rerun()
    st.session_state[FAILS_KEY] = failures + 1
    st.error("Enter your name and the correct password." if not ok else "Enter your name.")


def signed_in_user(settings: Settings) -> str | None:
    """The analyst this session may act as, or ``None`` (renders nothing).

    No login on a localhost-only server without a configured password (user ``analyst``);
    a configured password or auth-proxy header is always enforced.
    """
    mode = auth_mode(settings)
    if mode == "header":
        assert settings.dashboard_auth_header is not None
        return _header_user(settings.dashboard_auth_header)
    if mode == "password":
        user = st.session_state.get(USER_KEY)
        return str(user) if user else None
    return LOCAL_USER if is_local_address(settings.dashboard_address) else None


def login_screen(settings: Settings) -> NoReturn:
    """What a session without a user sees (login form or the reason), then stop the run."""
    mode = auth_mode(settings)
    if mode == "password":
        _login_form(settings)
    elif mode == "header":
        st.error(f"Not signed in: the auth proxy did not send {settings.dashboard_auth_header!r}.")
    else:
        st.error(
            "This dashboard is bound off-localhost without access control. Set "
            "OPINION_DASHBOARD_PASSWORD_HASH or OPINION_DASHBOARD_AUTH_HEADER."
        )
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


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
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop("user", None)


def current_user() -> str:
    """The user ``signed_in_user`` let in this run (``analyst`` on an open localhost server)."""
    return str(st.session_state.get("user", LOCAL_USER))


def now_utc() -> datetime:
    return datetime.now(UTC)


def floor_time(value: datetime, width_s: int) -> datetime:
    ts = int(value.timestamp())
    return datetime.fromtimestamp(ts - ts % width_s, UTC)


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
