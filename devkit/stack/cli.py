"""``opinion stack up|down|status``."""

from __future__ import annotations

import json

import typer

from devkit.stack.binaries import BinaryNotFound, check_local_stack
from devkit.stack.embedded import StackError, stack_down, stack_status, stack_up
from pipeline.config import get_settings
from pipeline.redis_io import redact_url

stack_app = typer.Typer(help="Run the embedded Kafka-protocol broker and Redis locally.")


@stack_app.command("up")
def up(
    durable: bool = typer.Option(
        False, "--durable", help="Store broker data on a local S3 server (survives a crash)."
    ),
    kafka_port: int | None = typer.Option(None, help="Broker port (default: a free port)."),
    redis_port: int | None = typer.Option(None, help="Redis port (default: a free port)."),
) -> None:
    """Start the broker and Redis in the background, create the topics, print addresses."""
    settings = get_settings()
    overrides = {
        k: v
        for k, v in {"stack_kafka_port": kafka_port, "stack_redis_port": redis_port}.items()
        if v is not None
    }
    settings = settings.model_copy(update=overrides) if overrides else settings
    try:
        need_kafka = settings.kafka_bootstrap is None
        check_local_stack(
            kafka=need_kafka, redis=settings.redis_url is None, s3=durable and need_kafka
        )
    except BinaryNotFound as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    try:
        state = stack_up(settings, durable=durable)
    except StackError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"kafka_bootstrap={state.kafka_bootstrap}")
    typer.echo(f"redis_url={redact_url(state.redis_url)}")
    for name, proc in state.processes.items():
        typer.echo(f"{name}: pid {proc.pid}, log {proc.log}")
    typer.echo(f"state: {settings.stack_file}  (stop with `opinion stack down`)")


@stack_app.command("down")
def down() -> None:
    """Stop exactly the processes `stack up` started."""
    try:
        stopped = stack_down(get_settings())
    except StackError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@stack_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Addresses, topics and health of the broker and Redis. Exit 1 when unhealthy."""
    report = stack_status(get_settings())
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for name in ("kafka", "redis", "s3"):
            if name in report:
                svc = report[name]
                mark = "healthy" if svc["healthy"] else "DOWN"
                typer.echo(f"{name:6} {mark:8} {svc['address'] or ''} pid={svc['pid']}")
        for role, topic in report["topics"].items():
            typer.echo(f"topic {role:14} {topic}")
    raise typer.Exit(0 if report["healthy"] else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
