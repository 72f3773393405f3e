"""``opinion topics``: create the monitor's topics on the configured broker (production init)."""

from __future__ import annotations

import typer

from pipeline.config import Settings, get_settings


def topics(
    forget: list[str] = typer.Option(
        [],
        "--forget",
        help="Input topic that was deleted and created again by other means: forget what was "
        "counted of it (its offsets restart at 0). Repeatable.",
    ),
) -> None:
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
    inputs = {settings.topic("social"), settings.topic("news")}
    fresh = [t for t in created if t in inputs] + [t for t in forget if t not in created]
    if fresh:
        forget_counted(settings, fresh)


def forget_counted(settings: Settings, topics: list[str]) -> None:
    """Forget the offsets counted of ``topics`` (new, or recreated: offsets start at 0)."""
    from pipeline.aggregation.offsets import forget_topic
    from pipeline.redis_io import RedisUnavailable, answering_client

    try:
        client = answering_client(settings)
    except RedisUnavailable as exc:
        again = " ".join(f"--forget {t}" for t in topics)
        raise RedisUnavailable(f"{exc} Then run `opinion topics {again}`.") from exc
    try:
        for topic in topics:
            removed = forget_topic(client, topic)
            typer.echo(f"{topic}: forgot {removed} recorded offsets (counting starts at 0)")
    finally:
        client.close()


def register(app: typer.Typer) -> None:
    app.command("topics")(topics)
