"""``opinion train`` and ``opinion model list|promote|rollback|enable-auto-promote`` (entry
point ``opinion.commands``).

Exit codes of ``opinion train`` (docs/training.md): 0 when the run did its job — promoted,
rejected by the gate, dry run, nothing new to learn, waiting for more held-out labels, or
another run in progress (the last line says which); 1 on failure (traceback in the log);
2 on a configuration error.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

log = logging.getLogger("training")

model_app = typer.Typer(
    help="The model registry: list versions, promote one, roll back.", no_args_is_help=True
)


def _quiet_libraries(progress: bool) -> None:
    """No download/weight-loading bars in cron mail."""
    if progress:
        return
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover - transformers always present here
        pass


def train(
    max_steps: Annotated[
        int | None,
        typer.Option(min=1, help="Most optimiser steps (default OPINION_TRAINING_MAX_STEPS)."),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            min=1, help="Seconds for fine-tuning (default OPINION_TRAINING_TIME_BUDGET_S)."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Train and judge, but promote nothing and record nothing."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Train even when no new labels arrived.")
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress bar (default: when stderr is a terminal)."
        ),
    ] = None,
    accept_unsigned: Annotated[
        bool,
        typer.Option(
            "--accept-unsigned",
            help="Also train on labels without a dashboard signature (labels from before "
            "signing, or no OPINION_LABEL_SIGNING_KEY); the report records it.",
        ),
    ] = False,
) -> None:
    """Re-fine-tune on new analysts' labels; promote the result only if it is better."""
    from pipeline.config import ConfigError
    from pipeline.extras import ExtraMissing, require_extra
    from pipeline.kafka_io import BrokerUnavailable
    from training.run import TrainingError
    from training.run import train as run_train
    from training.settings import get_training_settings

    try:
        require_extra("train", "opinion train (the base corpus)")
    except ExtraMissing as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    show = sys.stderr.isatty() if progress is None else progress
    _quiet_libraries(show)
    try:
        outcome = run_train(
            get_training_settings(),
            max_steps=max_steps,
            time_budget_s=time_budget,
            dry_run=dry_run,
            force=force,
            progress=show,
            accept_unsigned=accept_unsigned,
        )
    except ConfigError:
        raise  # exit 2 with the message (pipeline.cli / training.__main__)
    except (BrokerUnavailable, TrainingError) as exc:
        log.error("training failed: %s", exc)
        typer.echo(f"opinion train: failed: {exc}")
        raise typer.Exit(1) from exc
    except Exception as exc:
        log.exception("training failed")
        typer.echo(f"opinion train: failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    log.info("%s", outcome.line)
    typer.echo(f"opinion train: {outcome.line}")
    raise typer.Exit(outcome.exit_code)


@model_app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """Versions in the registry, oldest first (* = current, ^ = previous)."""
    from pipeline.model.registry import ModelRegistry
    from training.registry_ops import describe
    from training.settings import get_training_settings

    settings = get_training_settings()
    registry = ModelRegistry(settings.registry_dir)
    rows = describe(registry)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no versions in {registry.root}: the bundled default model is live")
        return
    typer.echo(f"registry: {registry.root}")
    for row in rows:
        mark = "*" if row["current"] else ("^" if row["previous"] else " ")
        f1 = row["analysts_macro_f1"]
        score = f"  analysts' held-out macro-F1 {f1:.4f}" if f1 is not None else ""
        typer.echo(f"{mark} {row['version']:<28} {row['created_at'] or '':<26}{score}")


@model_app.command("promote")
def promote_cmd(
    version: Annotated[str, typer.Argument(help="A version from `opinion model list`.")],
) -> None:
    """Make VERSION current (no gate) and announce it so workers switch."""
    from pipeline.model.registry import RegistryError
    from training.registry_ops import promote
    from training.settings import get_training_settings

    settings = get_training_settings()
    try:
        announced = promote(settings, version)
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"current -> {version}" + ("" if announced else " (not announced; see the log)"))


@model_app.command("rollback")
def rollback_cmd() -> None:
    """Make the previously current version current again and announce it; `opinion train`
    then holds automatic promotion until the labels change (or enable-auto-promote)."""
    from pipeline.model.registry import RegistryError
    from training.registry_ops import rollback
    from training.settings import get_training_settings

    settings = get_training_settings()
    try:
        version, announced = rollback(settings)
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"rolled back: current -> {version}" + ("" if announced else " (not announced)"))
    typer.echo(
        "automatic promotion by `opinion train` is held until "
        f"{settings.training_relearn_after_labels} labelled posts change "
        "(OPINION_TRAINING_RELEARN_AFTER_LABELS) or `opinion model enable-auto-promote`"
    )


@model_app.command("enable-auto-promote")
def enable_auto_promote_cmd() -> None:
    """Lift the hold a rollback put on automatic promotion by `opinion train`."""
    from pipeline.model.registry import ModelRegistry
    from training import holds
    from training.settings import get_training_settings

    hold = holds.enable(ModelRegistry(get_training_settings().registry_dir))
    if hold is None:
        typer.echo("automatic promotion is on: no rollback holds it")
        return
    typer.echo(
        f"automatic promotion re-enabled (held since the rollback of "
        f"{hold['rejected_version']} at {hold['rolled_back_at']}; lifted by "
        f"{hold['enabled_by']} at {hold['enabled_at']})"
    )


def register(app: typer.Typer) -> None:
    """Entry point of the ``opinion.commands`` group."""
    app.command("train")(train)
    app.add_typer(model_app, name="model")
