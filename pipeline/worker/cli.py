"""``opinion worker``: run one scoring worker (start several to share the partitions)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.config import Settings, get_settings, literal_choices

OVERRIDES_HELP = "Overrides OPINION_{} for this worker."
LOG_LEVELS = literal_choices(Settings.model_fields["log_level"].annotation)


def worker(
    web_port: int | None = typer.Option(
        None,
        help="Web port for /metrics (one per worker on a host). "
        + OVERRIDES_HELP.format("WORKER_WEB_PORT"),
    ),
    batch_size: int | None = typer.Option(
        None, help="Largest scoring batch. " + OVERRIDES_HELP.format("BATCH_MAX_SIZE")
    ),
    batch_wait: float | None = typer.Option(
        None, help="Seconds to wait to fill a batch. " + OVERRIDES_HELP.format("BATCH_MAX_WAIT_S")
    ),
    model_dir: str | None = typer.Option(
        None, help="Score with this HF checkpoint dir. " + OVERRIDES_HELP.format("MODEL_DIR")
    ),
    watches_file: str | None = typer.Option(
        None,
        help="Seed watches from this YAML (existing ones kept). "
        + OVERRIDES_HELP.format("WATCHES_FILE"),
    ),
    loglevel: str | None = typer.Option(
        None,
        help="debug | info | warning | error (any case). " + OVERRIDES_HELP.format("LOG_LEVEL"),
    ),
) -> None:
    """Consume the social and news topics, score posts in batches, publish and aggregate.

    Broker and Redis come from OPINION_KAFKA_BOOTSTRAP / OPINION_REDIS_URL or the
    embedded stack (`opinion stack up`). Exits with an error within seconds when either
    is unreachable.
    """
    from pipeline.worker.runner import run_worker

    if loglevel is not None and loglevel.strip().upper() not in LOG_LEVELS:
        raise typer.BadParameter(f"--loglevel must be one of {', '.join(LOG_LEVELS)}")
    overrides = {
        "worker_web_port": web_port,
        "batch_max_size": batch_size,
        "batch_max_wait_s": batch_wait,
        "model_dir": Path(model_dir) if model_dir else None,
        "watches_file": Path(watches_file) if watches_file else None,
    }
    settings = get_settings().model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    level = loglevel.strip() if loglevel else None
    raise typer.Exit(run_worker(settings, loglevel=level))


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
