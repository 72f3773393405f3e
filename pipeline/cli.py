"""The ``opinion`` command line.

Each feature module contributes its commands through a ``register(app)`` function listed
in ``COMMAND_MODULES``; packages that build on ``pipeline`` (training, dashboard, the dev kit,
benchmarks) add theirs through the ``opinion.commands`` entry-point group, so ``pipeline``
never imports them.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import PackageNotFoundError, entry_points, version

import typer

from pipeline.config import ConfigError, get_settings
from pipeline.logging_setup import configure_logging

COMMAND_MODULES: tuple[str, ...] = (
    "pipeline.topics_cli",
    "pipeline.worker.cli",
    "pipeline.watches.cli",
    "pipeline.model.cli",
    "pipeline.aggregation.cli",
    "pipeline.detection.cli",
    "pipeline.alerting.cli",
    "pipeline.setup_env",
)

HELP = "Real-time public-opinion monitor: stack, workers, replay, scoring, alerts."

app = typer.Typer(
    name="opinion",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_registered = False


def package_version() -> str:
    """The installed ``opinion-monitor`` version."""
    try:
        return version("opinion-monitor")
    except PackageNotFoundError:  # pragma: no cover - run from a tree that is not installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"opinion {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the version and exit.",
    ),
) -> None:
    """Real-time public-opinion monitor: stack, workers, replay, scoring, alerts."""


def _register_all() -> None:
    global _registered
    if _registered:
        return
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    for entry in entry_points(group="opinion.commands"):
        try:
            register = entry.load()
        except ModuleNotFoundError as exc:
            if exc.name != entry.module.partition(".")[0]:
                raise
            continue  # a package left out of this install (the image has no dev kit)
        register(app)
    _registered = True


def setup_process() -> None:
    """Offline Hugging Face, the configured log level and format, quiet client loggers.

    Invalid settings leave the defaults here; the command then reports them (exit 2)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        settings = get_settings()
    except ConfigError:
        configure_logging()
        return
    configure_logging(settings.log_level, settings.log_format)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; ``argv`` replaces ``sys.argv[1:]`` (tests)."""
    setup_process()
    _register_all()
    args = sys.argv[1:] if argv is None else argv
    try:
        if args and not {"--help", "--version"} & set(args):
            get_settings()  # an invalid setting stops every command: one line, exit 2
        app(args=args)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
