"""Redis client factory (sync and asyncio) from ``Settings``."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis

from pipeline.config import Settings


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


def redis_client(settings: Settings) -> redis.Redis:
    """A sync client with decoded responses off (values are bytes)."""
    url = settings.resolved_redis_url()
    kwargs = {"password": _password(settings)} if _password(settings) and "@" not in url else {}
    return redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30, **kwargs)


def async_redis_client(settings: Settings) -> aioredis.Redis:
    """An asyncio client, same options as ``redis_client``."""
    url = settings.resolved_redis_url()
    kwargs = {"password": _password(settings)} if _password(settings) and "@" not in url else {}
    return aioredis.Redis.from_url(url, socket_timeout=10, health_check_interval=30, **kwargs)


def redis_healthy(settings: Settings) -> bool:
    """True when Redis answers PING."""
    try:
        client = redis_client(settings)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False
