"""Start a worker process: pre-flight checks, watch seeding, model load, Faust worker."""

from __future__ import annotations

import logging
from pathlib import Path

import faust
import typer

from pipeline.config import ConfigError, Settings
from pipeline.kafka_io import broker_healthy
from pipeline.logging_setup import configure_logging
from pipeline.model.registry import RegistryError
from pipeline.redis_io import redis_client, redis_problem
from pipeline.watches.store import WatchStore, load_watch_file

log = logging.getLogger(__name__)


def preflight(settings: Settings) -> str | None:
    """An error message when the broker or Redis is unreachable, else None."""
    try:
        bootstrap = settings.resolved_kafka_bootstrap()
        settings.resolved_redis_url()  # no Redis configured: a ConfigError saying what to set
    except ConfigError as exc:
        return str(exc)
    if not broker_healthy(settings, timeout_s=5.0):
        return (
            f"No Kafka broker answers at {bootstrap}: start the embedded one with "
            "`opinion stack up`, or set OPINION_KAFKA_BOOTSTRAP to a reachable broker."
        )
    problem = redis_problem(settings)
    if problem is not None:
        return (
            f"{problem.rstrip('.')}; the embedded one starts with `opinion stack up`, else set "
            "OPINION_REDIS_URL (OPINION_REDIS_PASSWORD if it needs one, OPINION_REDIS_CLUSTER "
            "for a cluster)."
        )
    return None


def seed_watches(settings: Settings) -> None:
    if settings.watches_file is None:
        return
    client = redis_client(settings)
    try:
        added = WatchStore(client).seed(load_watch_file(Path(settings.watches_file)))
        if added:
            log.info("Seeded watches from %s: %s", settings.watches_file, ", ".join(added))
    finally:
        client.close()


def build_app(settings: Settings) -> faust.App:
    """The worker app wired to the Redis aggregate store."""
    from pipeline.aggregation.store import AsyncAggregateStore
    from pipeline.redis_io import async_redis_client
    from pipeline.worker.app import build_processor, create_app
    from pipeline.worker.detection import LiveDetection

    aggregates = AsyncAggregateStore(async_redis_client(settings), settings)
    processor = build_processor(settings, aggregates=aggregates)
    detection = LiveDetection(settings, processor.metrics)
    return create_app(settings, processor=processor, detection=detection)


def start_faust(app: faust.App, settings: Settings, loglevel: str | None = None) -> None:
    """Run the Faust worker with our logging (``OPINION_LOG_LEVEL``, ``OPINION_LOG_FORMAT``;
    ``loglevel`` overrides the level): Faust is told to leave logging alone, and in JSON mode
    prints no banner, so every line a worker writes is a log record."""
    level = (loglevel or settings.log_level).upper()
    configure_logging(level, settings.log_format)
    worker = faust.Worker(
        app,
        loglevel=level,
        override_logging=False,
        quiet=settings.log_format == "json",
    )
    worker.spinner = None  # "Ready" is logged instead of drawn on stdout
    worker.execute_from_commandline()


def run_worker(settings: Settings, *, loglevel: str | None = None) -> int:
    """Run until stopped; returns the exit code. ``loglevel`` overrides OPINION_LOG_LEVEL."""
    problem = preflight(settings)
    if problem:
        typer.secho(f"error: {problem}", fg="red", err=True)
        return 2
    seed_watches(settings)
    try:
        app = build_app(settings)
    except RegistryError as exc:  # the registry's current model failed its checksums
        typer.secho(f"error: {exc}", fg="red", err=True)
        return 2
    start_faust(app, settings, loglevel)
    return 0
