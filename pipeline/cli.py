"""The ``opinion`` command line.

Each feature module contributes its commands through a ``register(app)`` function listed
in ``COMMAND_MODULES``; packages that build on ``pipeline`` (training, dashboard) add theirs
through the ``opinion.commands`` entry-point group, so ``pipeline`` never imports them.
"""

from __future__ import annotations

import importlib
import logging
import os
from importlib.metadata import entry_points

import typer

from pipeline.config import ConfigError, get_settings

COMMAND_MODULES: tuple[str, ...] = (
    "pipeline.stack.cli",
    "pipeline.worker.cli",
    "pipeline.watches.cli",
    "pipeline.feed.cli",
    "pipeline.model.cli",
    "pipeline.detection.cli",
    "pipeline.alerting.cli",
    "pipeline.demo",
    "pipeline.bench.cli",
)

app = typer.Typer(
    name="opinion",
    help="Real-time public-opinion monitor: stack, workers, replay, scoring, alerts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    for entry in entry_points(group="opinion.commands"):
        entry.load()(app)


def setup_process() -> None:
    """Offline Hugging Face, the configured log level, and quiet (secret-safe) client loggers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(
        level=get_settings().log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request's full URL at INFO: webhook URLs are secrets
    for noisy in ("kafka", "aiokafka", "botocore", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    """Console-script entry point."""
    setup_process()
    _register_all()
    try:
        app()
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
