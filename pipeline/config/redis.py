"""Settings of the Redis connection (aggregates, watches, alerts, dedup)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class RedisSettings(BaseModel):
    """Redis: where it is and whether it is a cluster."""

    redis_url: str | None = Field(
        None, description="redis://[:password@]host:port/db; unset = the embedded Redis."
    )
    redis_password: SecretStr | None = Field(
        None, description="Used when the URL carries none (also the embedded server's)."
    )
    redis_cluster: bool = Field(
        False,
        description="OPINION_REDIS_URL names a node of a Redis Cluster (the client finds the "
        "others; README 'Scaling out').",
    )
