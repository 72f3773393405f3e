"""Redis Cluster rules that need no server: keys written together share one hash slot, a
custom alert stream key without the ``{alerts}`` tag is refused on a cluster, and the
worker waits out a failover."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from redis.cluster import key_slot
from redis.exceptions import ClusterDownError, SlotNotCoveredError, TryAgainError

from dashboard.loginlimit import LoginLimiter, subjects
from pipeline import keys
from pipeline.config import Settings
from pipeline.watches.store import VERSION_KEY, WATCHES_KEY
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.results import retry_forever


def _slot(key: str) -> int:
    return key_slot(key.encode())


def test_a_watch_change_and_its_version_share_one_slot() -> None:
    assert _slot(WATCHES_KEY) == _slot(VERSION_KEY)
    assert VERSION_KEY.startswith("opinion:")  # the ACL in SECURITY.md grants ~opinion:*


def test_the_sign_in_script_keys_share_one_slot() -> None:
    names = [k for s in subjects("ann", "10.0.0.1") for k in LoginLimiter._keys(s)]
    assert len({_slot(k) for k in names}) == 1


def test_each_watch_keeps_its_own_slot_group() -> None:
    for watch in (None, "acme", "bank"):
        group = [
            keys.bucket_key(watch, 60, "all", 0),
            keys.marker_key(watch, "e1"),
            keys.offsets_key(watch),
            keys.terms_key(watch, 0),
            keys.samples_key(watch, 0),
            keys.recent_key(watch),
        ]
        assert len({_slot(k) for k in group}) == 1
    assert _slot(keys.detector_state_key("acme")) == _slot(keys.recent_key("acme"))


def test_an_untagged_alert_stream_key_is_refused_on_a_cluster_only() -> None:
    Settings(_env_file=None, alert_stream_key="alerts-stream")  # one Redis: any key
    Settings(_env_file=None, redis_cluster=True)  # the default carries the tag
    with pytest.raises(ValidationError, match="OPINION_ALERT_STREAM_KEY"):
        Settings(_env_file=None, redis_cluster=True, alert_stream_key="alerts-stream")


def test_a_cluster_failing_over_is_waited_for_not_fatal() -> None:
    """The worker retries (pauses, drops nothing) while a cluster fails over or moves slots."""
    errors = [ClusterDownError("CLUSTERDOWN"), TryAgainError("TRYAGAIN"), SlotNotCoveredError()]

    async def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    metrics = WorkerMetrics(process=False)
    assert asyncio.run(retry_forever("recording", flaky, metrics, max_delay_s=0.01)) == "done"
    assert metrics.registry.get_sample_value("opinion_redis_retries_total") == 3
