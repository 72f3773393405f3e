"""``python -m training [OPTIONS]`` = ``opinion train [OPTIONS]``."""

from __future__ import annotations

import typer

from pipeline.cli import setup_process
from pipeline.config import ConfigError
from training.cli import train


def main() -> None:
    setup_process()
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(train)
    try:
        app(prog_name="python -m training")
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
