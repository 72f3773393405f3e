"""Shared fixtures: a real embedded stack (Tansu broker + Valkey) started once per session.

Integration tests take ``stack_settings``: a ``Settings`` whose broker and Redis are the
real embedded servers started here (never mocks). ``fresh_topics`` gives a test its own
uniquely-named topics so tests don't see each other's messages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.stack import stack_down, stack_up
from devkit.stack.cluster import LocalCluster, local_cluster
from pipeline.config import TOPIC_ROLES, Settings, get_settings
from pipeline.kafka_io import ensure_topics

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a freshly started embedded broker and Redis."""
    state_dir = tmp_path_factory.mktemp("stack")
    base = Settings(_env_file=None, state_dir=state_dir, kafka_bootstrap=None, redis_url=None)
    state = stack_up(base)
    try:
        # idempotence off explicitly: copies with another state_dir no longer see stack.json
        yield base.model_copy(
            update={
                "kafka_bootstrap": state.kafka_bootstrap,
                "redis_url": state.redis_url,
                "kafka_idempotence": False,
            }
        )
    finally:
        stack_down(base)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A local 3-primary Redis Cluster from the embedded server binary (tests/cluster)."""
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture()
def fresh_topics(stack_settings: Settings) -> Settings:
    """``stack_settings`` with a unique set of topic names, created on the broker."""
    suffix = uuid.uuid4().hex[:8]
    settings = stack_settings.model_copy(
        update={f"topic_{role}": f"t-{suffix}.{role}" for role in TOPIC_ROLES}
        | {"app_id": f"app-{suffix}"}
    )
    ensure_topics(settings)
    return settings


@pytest.fixture()
def redis_db(stack_settings: Settings):  # type: ignore[no-untyped-def]
    """A sync Redis client on the embedded server, flushed before the test."""
    from pipeline.redis_io import redis_client

    client = redis_client(stack_settings)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture()
def unconfigured_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[pytest.MonkeyPatch]:
    """A command line run from an empty folder: no .env, no stack.json, nothing configured."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPINION_STATE_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
