"""The alert-quality benchmark: a deterministic generator, NAB-style scoring at its
reference points (perfect = 100, null = 0), delays, and ``run.py --quick`` end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``benchmarks`` is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.alert_quality.generate import (  # noqa: E402
    BANDS,
    KINDS,
    CorpusConfig,
    Label,
    SeriesInfo,
    generate_corpus,
    generate_series,
)
from benchmarks.alert_quality.scoring import (  # noqa: E402
    Detection,
    Summary,
    score_series,
    summarize,
)

SMALL = CorpusConfig(series=30, weeks=1)


def test_generator_is_deterministic_and_covers_kinds_and_bands() -> None:
    a, b = generate_series(7, 4, SMALL), generate_series(7, 4, SMALL)
    assert np.array_equal(a.volume, b.volume) and np.array_equal(a.negative, b.negative)
    assert a.labels == b.labels and a.effects == b.effects
    assert not np.array_equal(a.volume, generate_series(8, 4, SMALL).volume)
    corpus = generate_corpus(3, SMALL)
    assert len(corpus) == 30 and all(len(s.volume) == SMALL.n_buckets for s in corpus)
    assert {s.band for s in corpus} == set(BANDS)
    labels = [lb for s in corpus for lb in s.labels]
    assert {lb.kind for lb in labels} == set(KINDS)
    assert any(len(s.labels) == 0 for s in corpus)
    assert all((s.negative <= s.volume).all() for s in corpus)
    warmup = SMALL.buckets_for(SMALL.warmup_days * 86_400)
    assert all(lb.start >= warmup and lb.end <= SMALL.n_buckets for lb in labels)


def _info(labels: list[Label], n: int = 2000) -> SeriesInfo:
    return SeriesInfo(0, "busy", 100.0, n, 300, tuple(labels))


LABELS = [
    Label("volume", 500, 524, 4.0, 0.0, "step"),
    Label("negative_share", 1200, 1260, 2.0, 0.3, "ramp"),
]


def _summary(detections: list[Detection], probation: int = 0) -> Summary:
    return summarize([score_series(_info(LABELS), detections, 12, probation)])


def test_perfect_detector_scores_100_and_null_scores_0() -> None:
    perfect = _summary([Detection(lb.start) for lb in LABELS])
    assert all(v == pytest.approx(100.0) for v in perfect.nab.values())
    assert perfect.recall == 1.0 and perfect.false_alerts == 0
    null = _summary([])
    assert all(v == pytest.approx(0.0) for v in null.nab.values())
    assert null.recall == 0.0


def test_firing_every_bucket_scores_below_zero() -> None:
    everything = _summary([Detection(i) for i in range(2000)])
    assert all(v is not None and v < 0 for v in everything.nab.values())
    assert everything.recall == 1.0
    assert everything.false_alerts == 2000 - (24 + 12) - (60 + 12)


def test_delays_false_alerts_and_probation() -> None:
    # first detection in each window counts (2 and 7 buckets late); 535 = end + tolerance - 1
    # is still in the first window; 536 is past it; 100 falls in the probation
    detections = [Detection(i) for i in (100, 502, 510, 535, 536, 1207)]
    s = _summary(detections, probation=288)
    assert s.delays == [2, 7] and s.false_alerts == 1
    assert s.as_dict()["delay_median"] == pytest.approx(4.5)
    assert s.false_alerts_per_watch_day == pytest.approx(1 / ((2000 - 288) * 300 / 86_400))
    late = _summary([Detection(523)]).nab["standard"]
    early = _summary([Detection(500)]).nab["standard"]
    assert late is not None and early is not None and 0 < late < early


def test_run_quick_exits_0_and_prints_tables(tmp_path: Path) -> None:
    out = tmp_path / "aq.json"
    script = ROOT / "benchmarks/alert_quality/run.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--jobs", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### NAB standard" in proc.stdout and "| today |" in proc.stdout
    assert "| gaussian |" in proc.stdout and out.exists()
