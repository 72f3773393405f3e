"""``opinion dashboard [--port N] [--address A]`` and ``opinion dashboard hash-password``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from dashboard.auth import AuthConfigError, check_bind, hash_password
from pipeline.config import Settings, get_settings

APP = Path(__file__).resolve().with_name("app.py")

dashboard_app = typer.Typer(invoke_without_command=True)


def streamlit_argv(settings: Settings) -> list[str]:
    """The ``python -m streamlit run`` command line for these settings."""
    return [
        sys.executable,
        "-m",
        "streamlit",
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

    Off-localhost it refuses to start unless OPINION_DASHBOARD_PASSWORD_HASH or
    OPINION_DASHBOARD_AUTH_HEADER is set.
    """
    if ctx.invoked_subcommand is not None:
        return
    overrides = {"dashboard_port": port, "dashboard_address": address}
    settings = get_settings().model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    try:
        check_bind(settings)
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
    """Print a salted scrypt hash for OPINION_DASHBOARD_PASSWORD_HASH."""
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        typer.secho("error: empty password", fg="red", err=True)
        raise typer.Exit(2)
    typer.echo(hash_password(password))


def register(app: typer.Typer) -> None:
    """Entry point of the ``opinion.commands`` group."""
    app.add_typer(dashboard_app, name="dashboard")
