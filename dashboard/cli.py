"""``opinion dashboard [--port N] [--address A]``, its accounts (``add-user``, ``remove-user``,
``set-role``, ``set-password``, ``list-users``, ``unlock``) and ``hash-password``.

Passwords are read from a hidden prompt or, with ``--stdin``, standard input; never from the
command line (which other users of the machine can see in the process list).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from redis.exceptions import RedisError

from dashboard.accounts import ROLES, AccountError, AccountStore
from dashboard.auth import AuthConfigError, check_bind, hash_password, is_local_address
from dashboard.loginlimit import LoginLimiter
from pipeline.config import Settings, get_settings
from pipeline.redis_io import redact_url, redis_client

APP = Path(__file__).resolve().with_name("app.py")

dashboard_app = typer.Typer(invoke_without_command=True)


def streamlit_argv(settings: Settings) -> list[str]:
    """The ``streamlit run`` command line for these settings (through ``dashboard.serve``,
    which loads the app's modules before the server listens).

    ``runner.postScriptGC`` off: Streamlit's default runs a full ``gc.collect(2)`` after every
    script run (page load, click, live refresh), ~0.15-0.3 s holding the GIL over this app's
    heap, which stalled every other session; Python's own generational collector still runs.
    """
    return [
        sys.executable,
        "-m",
        "dashboard.serve",
        "run",
        str(APP),
        f"--server.port={settings.dashboard_port}",
        f"--server.address={settings.dashboard_address}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--global.developmentMode=false",
        "--runner.magicEnabled=false",
        "--runner.postScriptGC=false",
        "--client.toolbarMode=viewer",
    ]


@dashboard_app.callback()
def dashboard(
    ctx: typer.Context,
    port: int | None = typer.Option(None, help="HTTP port. Overrides OPINION_DASHBOARD_PORT."),
    address: str | None = typer.Option(
        None, help="Bind address. Overrides OPINION_DASHBOARD_ADDRESS."
    ),
) -> None:
    """Serve the dashboard (Streamlit), reading Redis and the model registry.

    Off-localhost it refuses to start unless an account exists (`opinion dashboard
    add-user`) or an auth proxy is configured (OPINION_DASHBOARD_AUTH_HEADER and
    OPINION_DASHBOARD_TRUSTED_PROXIES).
    """
    if ctx.invoked_subcommand is not None:
        return
    overrides = {"dashboard_port": port, "dashboard_address": address}
    settings = get_settings().model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    if settings.dashboard_password_hash is not None:
        typer.secho(
            "warning: OPINION_DASHBOARD_PASSWORD_HASH is deprecated (one account, `admin`): "
            "create accounts with `opinion dashboard add-user NAME --role ROLE`, then unset it.",
            fg="yellow",
            err=True,
        )
    try:
        needs_count = (
            not is_local_address(settings.dashboard_address)
            and not settings.dashboard_auth_header
            and settings.dashboard_password_hash is None
        )
        check_bind(settings, accounts=_count_accounts(settings) if needs_count else 0)
    except AuthConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    env = {**os.environ, **settings.to_env()}
    typer.echo(f"dashboard: http://{settings.dashboard_address}:{settings.dashboard_port}")
    sys.stdout.flush()
    os.execve(sys.executable, streamlit_argv(settings), env)  # becomes the Streamlit server


@dashboard_app.command("hash-password")
def hash_password_command(
    stdin: bool = typer.Option(False, "--stdin", help="Read the password from standard input."),
) -> None:
    """Print a salted scrypt hash (for the deprecated OPINION_DASHBOARD_PASSWORD_HASH)."""
    typer.echo(hash_password(_read_password(stdin)))


def _store(settings: Settings | None = None) -> AccountStore:
    return AccountStore(redis_client(settings or get_settings()))


def _count_accounts(settings: Settings) -> int:
    """How many accounts exist; exits 2 when Redis cannot be reached."""
    try:
        return _store(settings).count()
    except RedisError as exc:
        url = redact_url(settings.resolved_redis_url())
        typer.secho(
            f"error: Redis at {url} is unreachable ({exc}): the dashboard keeps its accounts "
            "there; run `opinion stack up` or check OPINION_REDIS_URL.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2) from exc


def _read_password(stdin: bool) -> str:
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        typer.secho("error: empty password", fg="red", err=True)
        raise typer.Exit(2)
    return password


def _fail(exc: Exception) -> NoReturn:
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(2) from exc


@contextmanager
def _account_errors() -> Iterator[None]:
    """An ``AccountError`` inside ends the command with its one-line message (exit 2)."""
    try:
        yield
    except AccountError as exc:
        _fail(exc)


ROLE_HELP = f"One of {', '.join(ROLES)} (see docs/dashboard.md)."
STDIN_HELP = "Read the password from standard input (one line) instead of a prompt."


@dashboard_app.command("add-user")
def add_user(
    name: str = typer.Argument(..., help="User name (a-z 0-9 . _ @ -; stored lower-case)."),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
    stdin: bool = typer.Option(False, "--stdin", help=STDIN_HELP),
    no_password: bool = typer.Option(
        False, "--no-password", help="No password: only an auth proxy can sign this user in."
    ),
) -> None:
    """Create a dashboard account (password from a prompt or --stdin, never an argument)."""
    store = _store()
    with _account_errors():
        account = store.add(name, role, None if no_password else _read_password(stdin))
    typer.echo(f"added {account.name} ({account.role})")


@dashboard_app.command("set-role")
def set_role(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Argument(..., help=ROLE_HELP),
) -> None:
    """Change an account's role (takes effect at the user's next click)."""
    with _account_errors():
        account = _store().set_role(name, role)
    typer.echo(f"{account.name} is now {account.role}")


@dashboard_app.command("set-password")
def set_password(
    name: str = typer.Argument(..., help="User name."),
    stdin: bool = typer.Option(False, "--stdin", help=STDIN_HELP),
) -> None:
    """Replace an account's password."""
    with _account_errors():
        account = _store().set_password(name, _read_password(stdin))
    typer.echo(f"password of {account.name} changed")


@dashboard_app.command("remove-user")
def remove_user(name: str = typer.Argument(..., help="User name.")) -> None:
    """Delete an account (its sessions are signed out at their next click)."""
    with _account_errors():
        removed = _store().remove(name)
    if not removed:
        _fail(AccountError(f"no user {name!r}: see `opinion dashboard list-users`"))
    typer.echo(f"removed {name.strip().lower()}")


@dashboard_app.command("list-users")
def list_users() -> None:
    """Every account: name, role, whether it has a password, creation time."""
    accounts = _store().all()
    if not accounts:
        typer.echo("no accounts (add one: opinion dashboard add-user NAME --role admin)")
    for a in accounts:
        kind = "password" if a.password_hash else "proxy only"
        typer.echo(f"{a.name}\t{a.role}\t{kind}\t{a.created_at}")


@dashboard_app.command("unlock")
def unlock(
    user: str | None = typer.Option(None, "--user", help="Lift this user's sign-in lockout."),
    address: str | None = typer.Option(
        None, "--address", help="Lift this client address's lockout."
    ),
) -> None:
    """Lift a sign-in lockout (too many failed sign-ins) before it expires."""
    if not user and not address:
        _fail(ValueError("give --user NAME and/or --address IP"))
    settings = get_settings()
    removed = LoginLimiter(redis_client(settings), settings).clear(user=user, address=address)
    typer.echo(f"cleared {removed} key(s)")


def register(app: typer.Typer) -> None:
    """Entry point of the ``opinion.commands`` group."""
    app.add_typer(dashboard_app, name="dashboard")
