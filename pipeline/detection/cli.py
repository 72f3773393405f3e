"""``opinion detect``: the surge detector offline over a CSV series (no Redis or Kafka)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from pipeline.config import get_settings


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"--param needs KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def detect(
    csv: Path = typer.Option(..., "--csv", exists=True, dir_okay=False, help="Input CSV."),
    time_col: str = typer.Option(..., "--time-col", help="Timestamps (ISO 8601 or epoch s)."),
    value_col: str = typer.Option(
        ..., "--value-col", help="Negative share 0..1, a count of negative posts, or posts."
    ),
    out: Path = typer.Option(..., "--out", help="Output CSV: input rows + score, state."),
    volume_col: str | None = typer.Option(None, "--volume-col", help="Posts per row."),
    bucket_s: int | None = typer.Option(
        None, "--bucket-s", min=1, help="Bucket width (default: bucket_s, or the row spacing)."
    ),
    value_kind: str = typer.Option(
        "auto",
        "--value-kind",
        help="share | count (negative posts, with --volume-col) | volume (posts per time "
        "step: mention spikes) | auto (count when any value > 1).",
    ),
    param: list[str] = typer.Option(
        [], "--param", help="Detector override KEY=VALUE, e.g. --param min_volume=5."
    ),
) -> None:
    """Run the surge detector offline over a series (no Redis or Kafka needed)."""
    import pandas as pd
    from pydantic import ValidationError

    from pipeline.config import DetectorParams
    from pipeline.detection.series import VALUE_KINDS, label_rows

    settings = get_settings()
    kind = value_kind.strip().lower()
    if kind not in VALUE_KINDS:
        raise typer.BadParameter(f"--value-kind must be one of {', '.join(VALUE_KINDS)}")
    try:
        params = DetectorParams.for_watch(settings.detector, _parse_params(param))
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    frame = pd.read_csv(csv)
    try:
        labeled, width = label_rows(
            frame,
            time_col,
            value_col,
            volume_col,
            params=params,
            bucket_s=bucket_s,
            default_bucket_s=settings.bucket_s,
            value_kind=kind,
        )
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    labeled.to_csv(out, index=False)
    firing = int((labeled["state"] == "firing").sum())
    typer.echo(f"wrote {len(labeled)} rows to {out} ({width}s buckets, {firing} rows firing)")


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
