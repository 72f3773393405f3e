"""The spike detector on synthetic series (pure Python, no Redis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.aggregation.bucket import Bucket
from pipeline.config import DetectorParams, Settings
from pipeline.detection.detector import SpikeDetector
from pipeline.detection.series import detect_series

T0 = 1_772_409_600  # 2026-03-02T00:00:00Z
DAY = 1440


def series(shares, volumes, seed: int = 0) -> list[Bucket]:  # type: ignore[no-untyped-def]
    """Buckets whose negative counts are binomial draws of the given shares."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (share, vol) in enumerate(zip(shares, volumes, strict=True)):
        vol = int(vol)
        neg = int(rng.binomial(vol, min(max(share, 0.0), 1.0))) if vol else 0
        out.append(Bucket.from_counts(T0 + 60 * i, vol, neg, vol - neg))
    return out


def fired(results) -> list[int]:  # type: ignore[no-untyped-def]
    return [i for i, r in enumerate(results) if r.event == "fired"]


def test_steady_series_never_fires() -> None:
    rng = np.random.default_rng(1)
    results = detect_series(series([0.3] * (2 * DAY), rng.poisson(40, 2 * DAY), seed=1))
    assert fired(results) == []
    assert all(0.0 <= r.score <= 1.0 for r in results)
    assert {r.state for r in results} <= {"ok", "pending"}


def test_calm_watch_with_natural_fluctuation_never_fires() -> None:
    for seed, per_minute in ((2, 12), (3, 30), (4, 150)):
        rng = np.random.default_rng(seed)
        shares = rng.uniform(0.2, 0.4, DAY)  # a different true share every minute
        results = detect_series(series(shares, rng.poisson(per_minute, DAY), seed=seed))
        assert fired(results) == [], per_minute


def test_diurnal_series_with_a_spike_fires_once_within_two_buckets() -> None:
    n = 3 * DAY
    i = np.arange(n)
    shares = 0.3 + 0.1 * np.sin(2 * np.pi * i / DAY)
    volumes = np.random.default_rng(5).poisson(
        np.maximum(45 + 35 * np.sin(2 * np.pi * (i - 300) / DAY), 1)
    )
    spike = 2 * DAY + 600  # day 3, 10:00, when the seasonal baseline is in use
    shares[spike : spike + 15] = 0.75
    results = detect_series(series(shares, volumes, seed=5))
    assert fired(results) == [spike + 1]  # 2 bad buckets: the incident's first two
    r = results[spike + 1]
    assert r.state == "firing" and r.score >= 0.5 and r.incident_start == results[spike].start
    assert r.incident_share > 0.6 and r.baseline_share < 0.45
    states = [x.state for x in results[spike + 1 : spike + 15]]
    assert states == ["firing"] * 14
    resolved = [k for k, x in enumerate(results) if x.event == "resolved"]
    assert resolved == [spike + 17]  # 3 calm buckets after the incident


def test_gradual_drift_does_not_fire() -> None:
    n = 2 * DAY
    shares = np.linspace(0.15, 0.65, n)  # +50 points over two days
    results = detect_series(series(shares, np.random.default_rng(6).poisson(40, n), seed=6))
    assert fired(results) == []


def test_low_volume_noise_does_not_fire() -> None:
    rng = np.random.default_rng(7)
    shares = rng.uniform(0.0, 1.0, DAY)
    results = detect_series(series(shares, rng.integers(0, 6, DAY), seed=7))
    assert fired(results) == []
    assert max(r.score for r in results) < 0.5


def test_flapping_needs_consecutive_bad_buckets_and_holds_while_firing() -> None:
    calm = np.random.default_rng(8).uniform(0.2, 0.4, 400)
    isolated = calm.copy()
    isolated[200:300:3] = 0.85  # bad, calm, calm, bad, ...: never fire_after=2 in a row
    isolated[201:300:3] = isolated[202:300:3] = 0.25
    results = detect_series(series(isolated, [50] * 400, seed=8))
    assert fired(results) == []
    assert {r.state for r in results[200:300]} == {"ok", "pending"}

    dips = calm.copy()
    dips[200:300] = 0.85
    dips[204:300:3] = 0.3  # one calm bucket every third: resolve_after=3 never reached
    results = detect_series(series(dips, [50] * 400, seed=8))
    assert fired(results) == [201]
    assert [r.state for r in results[201:300]] == ["firing"] * 99
    assert [k for k, r in enumerate(results) if r.event == "resolved"] == [302]

    around = calm.copy()
    around[200:320] = np.where(np.arange(120) % 4 < 2, 0.75, 0.3)  # on/off every 2 buckets
    results = detect_series(series(around, [50] * 400, seed=8))
    assert len(fired(results)) == 1  # one alert for the whole episode
    assert sum(r.event == "resolved" for r in results) == 1


def test_cooldown_suppresses_a_second_alert_right_after_resolution() -> None:
    shares = np.random.default_rng(9).uniform(0.2, 0.4, 400)
    shares[100:110] = 0.85
    shares[120:125] = 0.85  # resolves at 112, comes back inside the 60-bucket cooldown
    shares[300:305] = 0.85  # a later incident is a new alert
    results = detect_series(series(shares, [60] * 400, seed=9))
    assert fired(results) == [101, 301]
    assert results[121].state == "pending"


def test_volume_burst_with_a_usual_share_fires_a_mention_spike() -> None:
    rng = np.random.default_rng(10)
    shares = rng.uniform(0.2, 0.4, 300)
    volumes = rng.poisson(30, 300)
    volumes[150:200] = rng.poisson(300, 50)  # 10x the posts, same sentiment mix
    buckets = series(shares, volumes, seed=10)
    results = detect_series(buckets)
    assert fired(results) == [151]
    alert = results[151]
    assert set(alert.kinds) == {"volume", "negative_volume"}  # not negative_share
    assert alert.incident_volume / alert.incident_expected_volume > 5
    assert min(r.negative_ratio for r in results[151:160]) > 4  # reported, for severity
    assert alert.severity == "low"  # seen, not paged
    assert not any(r.event == "escalated" for r in results)
    share_only = DetectorParams(kinds=("negative_share",))  # the detector before kinds
    assert fired(detect_series(buckets, share_only)) == []


def test_ten_times_the_complaints_at_an_ordinary_share_fires_negative_volume() -> None:
    """A brand whose usual share is 40 %: ten times its complaints at 50 % (share +0.10,
    under min_delta) is a negative-volume surge."""
    rng = np.random.default_rng(16)
    shares = np.full(400, 0.4)
    volumes = rng.poisson(10, 400)
    shares[300:340], volumes[300:340] = 0.5, rng.poisson(80, 40)
    results = detect_series(series(shares, volumes, seed=16))
    assert fired(results) and 300 <= fired(results)[0] <= 302
    alert = results[fired(results)[0]]
    assert "negative_volume" in alert.kinds and "negative_share" not in alert.kinds
    escalated = [r.severity for r in results if r.event == "escalated"]
    assert (escalated or [alert.severity])[-1] in ("medium", "high")  # pages ops
    only_volume = DetectorParams(kinds=("volume",))
    assert [results[i].kinds for i in fired(detect_series(series(shares, volumes, 16)))] == [
        results[fired(results)[0]].kinds
    ]
    assert all(
        r.kinds == ("volume",)
        for r in detect_series(series(shares, volumes, seed=16), only_volume)
        if r.event == "fired"
    )


def test_sparse_watch_counts_do_not_fire_but_a_surge_does() -> None:
    rng = np.random.default_rng(17)
    n = 3 * DAY
    i = np.arange(n)
    rate = 1.5 + 1.2 * np.sin(2 * np.pi * (i - 300) / DAY)  # 0.3-2.7 posts a bucket
    calm = series(np.full(n, 0.3), rng.poisson(rate), seed=17)
    assert fired(detect_series(calm)) == []
    surged = rng.poisson(rate)
    surged[2 * DAY + 600 : 2 * DAY + 660] = rng.poisson(4 * rate[2 * DAY + 600 : 2 * DAY + 660])
    results = detect_series(series(np.full(n, 0.3), surged, seed=17))
    assert len(fired(results)) == 1
    assert 2 * DAY + 600 <= fired(results)[0] <= 2 * DAY + 615
    assert "volume" in results[fired(results)[0]].kinds


def test_single_outlier_buckets_and_a_weekly_cycle_do_not_fire() -> None:
    rng = np.random.default_rng(18)
    n = 16 * DAY // 5  # 16 days of 5-minute buckets
    i = np.arange(n)
    weekly = 1 + 0.3 * np.sin(2 * np.pi * i / (7 * 288))
    rate = 40 * (1 + 0.6 * np.sin(2 * np.pi * (i - 60) / 288)) * weekly
    volumes = rng.poisson(rate)
    for k in rng.choice(np.arange(400, n), 12, replace=False):
        volumes[k] *= 6  # one bucket at 6x: an outlier, not an incident
    buckets = [
        Bucket.from_counts(T0 + 300 * k, int(v), int(rng.binomial(v, 0.3)))
        for k, v in enumerate(volumes)
    ]
    results = detect_series(buckets, bucket_s=300)
    assert fired(results) == []
    step = 14 * 288 + 150  # day 15, a 3x step surge
    surged = [
        Bucket.from_counts(
            b.start,
            b.volume * (3 if step <= k < step + 12 else 1),
            b.negative * (3 if step <= k < step + 12 else 1),
        )
        for k, b in enumerate(buckets)
    ]
    results = detect_series(surged, bucket_s=300)
    assert fired(results) == [step + 1]


def test_low_volume_watch_is_judged_over_a_longer_window() -> None:
    rng = np.random.default_rng(14)
    shares = rng.uniform(0.2, 0.4, 600)
    shares[400:460] = 0.8
    results = detect_series(series(shares, rng.poisson(4, 600), seed=14))  # 4 posts/min
    assert len(fired(results)) == 1 and 400 <= fired(results)[0] <= 410
    assert max(r.window_buckets for r in results[300:400]) <= 10
    assert min(r.window_buckets for r in results[300:400]) >= 3


def test_state_round_trip_gives_identical_results() -> None:
    shares = np.random.default_rng(11).uniform(0.2, 0.4, 600)
    shares[300:310] = 0.9
    buckets = series(shares, [40] * 600, seed=11)
    whole = detect_series(buckets)
    first = SpikeDetector()
    part = [first.update(b) for b in buckets[:305]]
    resumed = SpikeDetector(state=first.to_state())
    part += [resumed.update(b) for b in buckets[305:]]
    assert part == whole
    with pytest.raises(ValueError):
        resumed.update(buckets[0])


def test_params_defaults_follow_settings_and_watch_overrides() -> None:
    assert Settings(_env_file=None).detector == DetectorParams()
    custom = DetectorParams.for_watch(DetectorParams(), {"min_volume": 3, "fire_after": 1})
    assert (custom.min_volume, custom.fire_after, custom.resolve_after) == (3, 1, 3)
    with pytest.raises(ValueError):
        DetectorParams.for_watch(DetectorParams(), {"fire_afterr": 1})
    shares = np.random.default_rng(12).uniform(0.2, 0.4, 100)
    shares[60] = 0.95
    buckets = series(shares, [40] * 100, seed=12)
    assert fired(detect_series(buckets)) == []
    assert fired(detect_series(buckets, custom)) == [60]
    assert fired(detect_series(buckets, DetectorParams(enabled=False, fire_after=1))) == []


def test_offline_dataframe_with_irregular_timestamps() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(13)
    times = np.sort(rng.uniform(0, 200 * 60, 6000)) + T0  # ~30 posts a minute, irregular
    minute = ((times - T0) // 60).astype(int)
    p = np.where((minute >= 150) & (minute < 160), 0.9, rng.uniform(0.2, 0.4, 200)[minute])
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(times, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "neg": (rng.random(6000) < p).astype(float),  # one row per post: 0/1
        }
    )
    results = detect_series(frame, time_col="ts", value_col="neg")
    assert len(results) == 200
    assert fired(results) == [151]
    assert all(math.isfinite(r.score) for r in results)


def test_refresh_takes_late_posts_into_the_short_window() -> None:
    calm = series(np.random.default_rng(15).uniform(0.2, 0.4, 60), [40] * 60, seed=15)
    late = Bucket.from_counts(T0 + 60 * 60, 5, 5)  # only 5 of its posts had arrived
    nxt = Bucket.from_counts(T0 + 61 * 60, 10, 8)
    plain, refreshed = SpikeDetector(), SpikeDetector()
    for det in (plain, refreshed):
        for b in calm:
            det.update(b)
        det.update(late)
    refreshed.refresh([Bucket.from_counts(T0 + 60 * 60, 30, 25)])
    assert plain.update(nxt).volume == 15 + 40  # the window reached back one more bucket
    result = refreshed.update(nxt)
    assert (result.volume, result.window_buckets) == (40, 2)
    assert result.negative_share == pytest.approx(33 / 40)
