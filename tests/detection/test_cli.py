"""``opinion detect``: the surge detector offline over CSV series (no services)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pipeline.detection.cli import register

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so the command is named as on `opinion`
    register(app)
    return app


def test_detect_labels_every_input_row_without_services(
    unconfigured_cwd: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    n = 240
    t = 1_772_409_600 + np.cumsum(rng.uniform(20, 100, n))  # irregular, ~1 min apart
    share = rng.uniform(0.2, 0.4, n)
    share[180:190] = 0.85
    volume = rng.poisson(50, n)
    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(t, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "neg_share": np.round(rng.binomial(volume, share) / np.maximum(volume, 1), 4),
            "n": volume,
            "note": "x",
        }
    )
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    frame.to_csv(src, index=False)
    args = ["detect", "--csv", str(src), "--time-col", "when", "--value-col", "neg_share"]
    result = runner.invoke(_app(), [*args, "--volume-col", "n", "--out", str(out)])
    assert result.exit_code == 0, result.output
    labeled = pd.read_csv(out)
    assert list(labeled.columns) == ["when", "neg_share", "n", "note", "score", "state"]
    assert len(labeled) == n and labeled["score"].between(0, 1).all()
    assert set(labeled["state"]) <= {"ok", "pending", "firing", "resolved"}
    firing = labeled.index[labeled["state"] == "firing"]
    assert len(firing) and 180 <= firing[0] <= 182 and firing[-1] < 196
    assert (labeled["state"] == "resolved").sum() == 1
    # overrides and bad input
    strict = runner.invoke(_app(), [*args, "--out", str(out), "--param", "min_delta=0.9"])
    assert strict.exit_code == 0 and "firing" not in set(pd.read_csv(out)["state"])
    bad = runner.invoke(_app(), [*args[:-1], "nope", "--out", str(out)])
    assert bad.exit_code == 2 and "nope" in bad.output


def test_detect_on_a_plain_count_series_finds_the_mention_spike(
    unconfigured_cwd: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)
    n = 600
    counts = rng.poisson(30, n)
    counts[400:420] = rng.poisson(120, 20)  # 4x the mentions
    counts[200] = 150  # one outlier step: ranked high, no alert
    frame = pd.DataFrame({"timestamp": 1_772_409_600 + 60 * np.arange(n), "value": counts})
    src, out = tmp_path / "counts.csv", tmp_path / "scored.csv"
    frame.to_csv(src, index=False)
    args = ["detect", "--csv", str(src), "--time-col", "timestamp", "--value-col", "value"]
    result = runner.invoke(_app(), [*args, "--value-kind", "volume", "--out", str(out)])
    assert result.exit_code == 0, result.output
    labeled = pd.read_csv(out)
    assert list(labeled.columns) == ["timestamp", "value", "score", "state"]
    assert len(labeled) == n and labeled["score"].between(0, 1).all()
    firing = labeled.index[labeled["state"] == "firing"]
    assert len(firing) and 400 <= firing[0] <= 402 and firing[-1] < 430
    assert labeled.loc[200, "state"] != "firing"
    calm = labeled["score"].drop(range(400, 430)).drop(200)
    assert labeled.loc[200, "score"] > calm.quantile(0.99)  # a ranking below the threshold
    assert labeled["score"][400:420].min() > calm.max()
    # a count series needs no total column; a volume column with it is an error
    both = runner.invoke(
        _app(), [*args, "--value-kind", "volume", "--volume-col", "value", "--out", str(out)]
    )
    assert both.exit_code == 2 and "volume-col" in both.output
    # share mode still refuses counts without a total column
    share = runner.invoke(_app(), [*args, "--value-kind", "share", "--out", str(out)])
    assert share.exit_code == 2
