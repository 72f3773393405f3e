"""``opinion alerts``: list, acknowledge and resolve alerts; list and re-queue deliveries."""

from __future__ import annotations

import getpass
import json
import logging
from datetime import UTC, datetime
from typing import Any

import typer

from pipeline.config import Settings, get_settings
from pipeline.redis_io import answering_client

log = logging.getLogger(__name__)
alerts_app = typer.Typer(
    help="List, acknowledge and resolve alerts; list and re-queue their deliveries.",
    no_args_is_help=True,
)


def _alert_store(settings: Settings) -> Any:
    from pipeline.alerting.store import AlertStore

    return AlertStore(answering_client(settings), settings)


@alerts_app.command("list")
def list_alerts(
    state: str | None = typer.Option(None, help="firing | acknowledged | resolved"),
    watch: str | None = typer.Option(None, help="Only this watch id."),
    limit: int = typer.Option(20, min=1),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Newest alerts first."""
    if state not in (None, "firing", "acknowledged", "resolved"):
        raise typer.BadParameter("--state must be firing, acknowledged or resolved")
    found = _alert_store(get_settings()).list(state, watch, limit)
    if as_json:
        typer.echo(json.dumps([json.loads(a.model_dump_json()) for a in found], indent=2))
        return
    for a in found:
        typer.echo(
            f"{a.id:40} {a.state:12} {a.severity:8} {a.negative_share:5.0%} "
            f"(base {a.baseline_share:4.0%}) vol {a.volume:<6} {a.window_start:%Y-%m-%d %H:%M} "
            f"{'+'.join(a.kinds)}"
        )
    if not found:
        typer.echo("no alerts")


def _change(alert_id: str, by: str | None, action: str, send: bool) -> None:
    from pipeline.alerting.store import AlertNotFound

    settings = get_settings()
    store = _alert_store(settings)
    who = by or getpass.getuser()
    try:
        updated = store.ack(alert_id, who) if action == "ack" else store.resolve(alert_id, who)
    except AlertNotFound as exc:
        typer.secho(f"error: no alert {alert_id!r}", fg="red", err=True)
        raise typer.Exit(1) from exc
    if updated is None:
        current = store.get(alert_id)
        typer.echo(f"{alert_id}: unchanged (already {current.state if current else '?'})")
        return
    typer.echo(f"{alert_id}: {updated.state} by {who}")
    if send:
        _send_now(settings, store.redis)


def _send_now(settings: Settings, client: Any) -> None:
    """One pass of the outbox from this process (what a worker would do within a second)."""
    from pipeline.alerting.outbox import Outbox

    outbox = Outbox(settings, client)
    try:
        sent = outbox.send_due()
    finally:
        outbox.close()
    typer.echo(f"sent {sent} due deliveries")


SEND_HELP = "Also send due deliveries from here (a running worker sends them within a second)."


@alerts_app.command("ack")
def ack(
    alert_id: str = typer.Argument(..., metavar="ID"),
    by: str | None = typer.Option(None, "--by", help="Analyst name (default: $USER)."),
    send: bool = typer.Option(False, "--send", help=SEND_HELP),
) -> None:
    """Acknowledge a firing alert (its deliveries go to the outbox)."""
    _change(alert_id, by, "ack", send)


@alerts_app.command("resolve")
def resolve(
    alert_id: str = typer.Argument(..., metavar="ID"),
    by: str | None = typer.Option(None, "--by", help="Analyst name (default: $USER)."),
    send: bool = typer.Option(False, "--send", help=SEND_HELP),
) -> None:
    """Resolve an alert (its deliveries go to the outbox)."""
    _change(alert_id, by, "resolve", send)


def _when(epoch_s: float | None) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S") if epoch_s else "-"


@alerts_app.command("deliveries")
def deliveries(
    parked: bool = typer.Option(False, "--parked", help="Only parked ones."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Deliveries not sent yet: pending (retrying or due) and parked (permanent failures)."""
    from pipeline.alerting.deliveries import DeliveryStore

    store = DeliveryStore(answering_client(get_settings()), get_settings())
    found = store.parked() if parked else [*store.pending(), *store.parked()]
    if as_json:
        typer.echo(json.dumps([d.as_dict() for d in found], indent=2))
        return
    for d in found:
        when = _when(d.parked_at if d.state == "parked" else d.due_at)
        typer.echo(
            f"{d.id:56} {d.state:8} attempts {d.attempts:<4} "
            f"{'parked' if d.state == 'parked' else 'due'} {when}  {d.last_error or ''}"
        )
    if not found:
        typer.echo("no parked deliveries" if parked else "no pending or parked deliveries")


@alerts_app.command("retry")
def retry(
    delivery_id: str | None = typer.Argument(None, metavar="DELIVERY_ID"),
    all_parked: bool = typer.Option(False, "--all-parked", help="Every parked delivery."),
) -> None:
    """Re-queue parked deliveries (a worker sends them within a second)."""
    from pipeline.alerting.deliveries import DeliveryStore

    if (delivery_id is None) == (not all_parked):
        raise typer.BadParameter("give a DELIVERY_ID or --all-parked (not both)")
    store = DeliveryStore(answering_client(get_settings()), get_settings())
    if all_parked:
        typer.echo(f"re-queued {store.requeue_parked()} parked deliveries")
        return
    if not store.requeue(delivery_id or ""):
        typer.secho(f"error: no parked delivery {delivery_id!r}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"{delivery_id}: re-queued")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
