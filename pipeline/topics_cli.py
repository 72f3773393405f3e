"""``opinion topics``: create the monitor's topics on the configured broker (production init)."""

from __future__ import annotations

import typer

from pipeline.config import get_settings


def topics() -> None:
    """Create every missing topic (names/partitions from config) on the configured broker."""
    from pipeline.kafka_io import BrokerUnavailable, ensure_topics

    settings = get_settings()
    try:
        created = ensure_topics(settings)
    except BrokerUnavailable as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    for spec in settings.topics().values():
        mark = "created" if spec.name in created else "exists"
        typer.echo(f"{spec.role:14} {spec.name:32} partitions={spec.partitions} {mark}")


def register(app: typer.Typer) -> None:
    app.command("topics")(topics)
