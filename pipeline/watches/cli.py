"""``opinion watches list|seed|add|remove``: manage watches in Redis from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipeline.config import get_settings
from pipeline.redis_io import redis_client
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore, load_watch_file

watches_app = typer.Typer(help="Analysts' watches (keyword queries) stored in Redis.")


def _store() -> WatchStore:
    return WatchStore(redis_client(get_settings()))


@watches_app.command("list")
def list_watches(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show every watch."""
    watches = _store().all()
    if as_json:
        typer.echo(json.dumps([w.model_dump() for w in watches], indent=2))
        return
    for w in watches:
        state = "on " if w.enabled else "off"
        typer.echo(f"{w.id:20} {state} {w.name:24} {w.query}")
    for watch_id, error in _store().broken().items():
        typer.echo(f"{watch_id:20} BROKEN (skipped by workers; fix or remove it): {error}")


@watches_app.command("seed")
def seed(
    file: Path = typer.Argument(..., exists=True, help="YAML with a `watches` list."),
    overwrite: bool = typer.Option(False, help="Replace watches that already exist."),
) -> None:
    """Add the watches from a YAML file (existing ones are kept unless --overwrite)."""
    added = _store().seed(load_watch_file(file), overwrite=overwrite)
    typer.echo(f"added: {', '.join(added) or 'none'}")


@watches_app.command("add")
def add(
    watch_id: str = typer.Argument(..., help="Slug, e.g. acme-air."),
    query: str = typer.Option(..., help="e.g. '\"acme air\" OR #acmeair NOT ad'"),
    name: str | None = typer.Option(None),
    languages: str | None = typer.Option(None, help="Comma-separated, e.g. en,zh."),
    sources: str | None = typer.Option(None, help="social,news"),
    disabled: bool = typer.Option(False, help="Create it disabled."),
) -> None:
    """Create or replace one watch."""
    try:
        watch = Watch(
            id=watch_id,
            name=name or watch_id,
            query=query,
            languages=languages.split(",") if languages else None,
            sources=sources.split(",") if sources else None,
            enabled=not disabled,
        )
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    _store().put(watch)
    typer.echo(f"saved {watch.id}")


@watches_app.command("remove")
def remove(watch_id: str) -> None:
    """Delete one watch (its history stays in the aggregates until retention ends)."""
    typer.echo("removed" if _store().delete(watch_id) else f"no watch {watch_id!r}")


def register(app: typer.Typer) -> None:
    app.add_typer(watches_app, name="watches")
