"""Redis Cluster: the aggregation (Lua per hash slot), alert (MULTI per slot), outbox (Lua),
watch (MULTI per slot) and worker-state (dedup, poison, watermark) stores, by the same tests
as on one Redis (imported, run here with the cluster's settings)."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

from devkit.stack import StackState
from pipeline.redis_io import redis_client, redis_problem
from tests.aggregation.test_store import *  # noqa: F403
from tests.alerting.conftest import receiver  # noqa: F401
from tests.alerting.test_outbox import (  # noqa: F401
    channels_settings,
    test_a_400_parks_the_delivery_with_its_reason_until_requeued,
    test_a_claim_holds_a_delivery_for_its_lease_only,
    test_changes_queue_one_delivery_per_channel_that_wants_them,
)
from tests.alerting.test_store import *  # noqa: F403
from tests.watches.test_store import *  # noqa: F403
from tests.worker.test_dedup import test_classify_redelivered_duplicate_and_repost  # noqa: F401
from tests.worker.test_poison import *  # noqa: F403
from tests.worker.test_watermark import (  # noqa: F401
    test_concurrent_progress_updates_keep_the_maxima,
)

pytestmark = pytest.mark.integration


def test_the_clients_are_cluster_clients(stack_settings, redis_cluster) -> None:  # type: ignore[no-untyped-def]
    client = redis_client(stack_settings)
    try:
        assert isinstance(client, RedisCluster)
        assert len(client.get_primaries()) == 3
    finally:
        client.close()


def test_a_mismatched_cluster_setting_is_named(stack_settings, redis_cluster) -> None:  # type: ignore[no-untyped-def]
    assert redis_problem(stack_settings) is None
    plain_client = stack_settings.model_copy(update={"redis_cluster": False})
    assert "set OPINION_REDIS_CLUSTER=true" in (redis_problem(plain_client) or "")
    state = StackState.load(stack_settings.stack_file)  # the session's single embedded Redis
    assert state is not None
    single = stack_settings.model_copy(update={"redis_url": state.redis_url})
    assert "unset OPINION_REDIS_CLUSTER" in (redis_problem(single) or "")
