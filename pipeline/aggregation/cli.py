"""``opinion stats``: counts per label, volume and negative share from Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from pipeline import keys
from pipeline.config import get_settings


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
    from pipeline.redis_io import answering_client

    settings = get_settings()
    client = answering_client(settings)
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
    report: dict[str, Any] = {
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
    out = []
    for watch_id, raw in client.hgetall(keys.WATCHES).items():
        try:
            if json.loads(raw).get("name") == name:
                out.append(watch_id.decode())
        except ValueError:
            continue
    return out


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
