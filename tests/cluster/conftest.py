"""Every test under tests/cluster runs against the local 3-primary Redis Cluster: the
session's ``stack_settings`` (and so ``redis_db``, ``fresh_topics`` and everything built on
them) point at the cluster with ``OPINION_REDIS_CLUSTER`` on; Kafka stays the embedded
broker. The test modules here re-run existing tests unchanged (imported by name), so one
test proves a behaviour on one Redis and on the cluster alike.
"""

from __future__ import annotations

import pytest

from devkit.stack.cluster import LocalCluster
from pipeline.config import Settings


@pytest.fixture(scope="session")
def stack_settings(stack_settings: Settings, redis_cluster: LocalCluster) -> Settings:
    """The embedded broker, and the local Redis Cluster instead of the single Redis."""
    return stack_settings.model_copy(update={"redis_url": redis_cluster.url, "redis_cluster": True})
