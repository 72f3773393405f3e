"""``opinion stats`` and ``opinion alerts`` (list, ack, resolve, deliveries,
retry)."""

from __future__ import annotations

import getpass
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from pipeline.config import Settings, get_settings

log = logging.getLogger(__name__)
alerts_app = typer.Typer(
    help="List, acknowledge and resolve alerts; list and re-queue their deliveries.",
    no_args_is_help=True,
)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stats_shape(totals: dict[str, Any]) -> dict[str, Any]:
    return {
        k: totals[k]
        for k in ("volume", "negative", "neutral", "positive", "negative_share", "mean_negativity")
    }


def stats(
    watch: str | None = typer.Option(None, "--watch", help="Only this watch (id or name)."),
    since: str | None = typer.Option(None, "--since", help="ISO time (default: retained)."),
    until: str | None = typer.Option(None, "--until", help="ISO time (default: latest)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Counts per label, volume and negative share from Redis, per watch and overall."""
    from pipeline.aggregation.store import AggregateStore

    settings = get_settings()
    client = _redis(settings)
    store = AggregateStore(client, settings)
    ids = store.watch_ids()
    if watch is not None:
        ids = [w for w in ids if w == watch] or _watch_ids_by_name(client, watch)
        if not ids:
            typer.secho(f"error: no data for watch {watch!r}", fg="red", err=True)
            raise typer.Exit(1)
    seen = store.seen_range(None)
    end = _parse_time(until) or (seen[1] + timedelta(seconds=1) if seen else datetime.now(UTC))
    start = _parse_time(since) or max(
        seen[0] if seen else end, end - timedelta(seconds=settings.retention_s)
    )
    report = {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "overall": _stats_shape(store.totals(None, start, end)),
        "watches": {w: _stats_shape(store.totals(w, start, end)) for w in ids},
    }
    client.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{report['since']} .. {report['until']}")
    rows = [("(overall)", report["overall"]), *report["watches"].items()]
    typer.echo(f"{'watch':24} {'volume':>8} {'neg':>7} {'neu':>7} {'pos':>7} {'neg%':>6}")
    for name, t in rows:
        typer.echo(
            f"{name:24} {t['volume']:8d} {t['negative']:7d} {t['neutral']:7d} "
            f"{t['positive']:7d} {t['negative_share']:6.1%}"
        )


def _watch_ids_by_name(client: Any, name: str) -> list[str]:
    from pipeline.watches.store import WATCHES_KEY

    out = []
    for watch_id, raw in client.hgetall(WATCHES_KEY).items():
        try:
            if json.loads(raw).get("name") == name:
                out.append(watch_id.decode())
        except ValueError:
            continue
    return out


def _redis(settings: Settings) -> Any:
    """A client that answered PING, or exit 2 with what to do."""
    import redis

    from pipeline.redis_io import redact_url, redis_client

    client = redis_client(settings)
    try:
        client.ping()
    except redis.RedisError as exc:
        typer.secho(
            f"error: Redis at {redact_url(settings.resolved_redis_url())} does not answer "
            f"({exc}); "
            "start it with `opinion stack up` or set OPINION_REDIS_URL.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2) from exc
    return client


def _alert_store(settings: Settings) -> Any:
    from pipeline.alerting.store import AlertStore

    return AlertStore(_redis(settings), settings)


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
    found = _alert_store(get_settings()).list(state, watch, limit)  # type: ignore[arg-type]
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

    store = DeliveryStore(_redis(get_settings()), get_settings())
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
    store = DeliveryStore(_redis(get_settings()), get_settings())
    if all_parked:
        typer.echo(f"re-queued {store.requeue_parked()} parked deliveries")
        return
    if not store.requeue(delivery_id or ""):
        typer.secho(f"error: no parked delivery {delivery_id!r}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"{delivery_id}: re-queued")


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.add_typer(alerts_app, name="alerts")
