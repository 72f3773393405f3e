"""Redis client factory (sync and asyncio) from ``Settings``: one server, or a Redis Cluster
when ``OPINION_REDIS_CLUSTER`` is on (the URL names any node; the client finds the others).

Callers use only what works on both: every MULTI/EXEC, Lua script and multi-key command
touches keys of one hash slot (``{...}`` tags, see pipeline/keys.py), and a
transaction is asked for explicitly with ``pipeline(transaction=True)`` (a cluster
pipeline is not transactional by default).
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
import redis.cluster
from redis.exceptions import RedisClusterException

from pipeline.config import ConfigError, Settings

SyncClient: TypeAlias = redis.Redis | redis.cluster.RedisCluster
AsyncClient: TypeAlias = aioredis.Redis | aiocluster.RedisCluster


def _password(settings: Settings) -> str | None:
    return settings.redis_password.get_secret_value() if settings.redis_password else None


def redact_url(url: str) -> str:
    """``url`` with its password (``redis://user:pw@host``) replaced by ``***``, for
    messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _options(settings: Settings, url: str) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_timeout": 10, "health_check_interval": 30}
    if _password(settings) and "@" not in url:
        options["password"] = _password(settings)
    return options


def redis_client(settings: Settings) -> SyncClient:
    """A sync client with decoded responses off (values are bytes)."""
    url = settings.resolved_redis_url()
    if settings.redis_cluster:
        return redis.cluster.RedisCluster.from_url(url, **_options(settings, url))
    return redis.Redis.from_url(url, **_options(settings, url))


def async_redis_client(settings: Settings) -> AsyncClient:
    """An asyncio client, same options as ``redis_client``."""
    url = settings.resolved_redis_url()
    if settings.redis_cluster:
        return aiocluster.RedisCluster.from_url(url, **_options(settings, url))
    return aioredis.Redis.from_url(url, **_options(settings, url))


def _cluster_enabled(client: SyncClient) -> bool:
    try:
        return str(client.info("cluster").get("cluster_enabled")) == "1"
    except redis.ResponseError:  # INFO disabled (some managed services): assume not
        return False


class RedisUnavailable(ConfigError):
    """Redis does not answer; the message says what to do (``opinion`` exits 2 with it)."""


def answering_client(settings: Settings) -> SyncClient:
    """A sync client that answered PING, or ``RedisUnavailable`` saying what to do."""
    client = redis_client(settings)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise RedisUnavailable(
            f"Redis at {redact_url(settings.resolved_redis_url())} does not answer ({exc}); "
            "start it with `opinion stack up` or set OPINION_REDIS_URL."
        ) from exc
    return client


def redis_problem(settings: Settings) -> str | None:
    """``None`` when Redis answers as configured, else one line saying what to fix (no
    answer, or a cluster node without ``OPINION_REDIS_CLUSTER`` or the other way round)."""
    try:
        url = redact_url(settings.resolved_redis_url())
        client = redis_client(settings)
    except (redis.RedisError, RedisClusterException) as exc:
        if settings.redis_cluster and "cluster mode is not enabled" in str(exc).lower():
            return f"Redis at {url} is not a cluster node: unset OPINION_REDIS_CLUSTER."
        return f"Redis does not answer at {url}: {exc}"
    except Exception as exc:  # a bad URL, no stack recorded
        return str(exc)
    try:
        client.ping()
        if not settings.redis_cluster and _cluster_enabled(client):
            return f"Redis at {url} is a Redis Cluster node: set OPINION_REDIS_CLUSTER=true."
        return None
    except redis.RedisError as exc:
        return f"Redis does not answer at {url}: {exc}"
    finally:
        client.close()


def redis_healthy(settings: Settings) -> bool:
    """True when Redis answers PING and is a cluster exactly when ``OPINION_REDIS_CLUSTER``
    says so (``redis_problem`` says what is wrong)."""
    return redis_problem(settings) is None
