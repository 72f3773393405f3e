"""Settings of ``opinion stack up`` (the dev kit's embedded broker and Redis)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StackSettings(BaseModel):
    """The embedded stack's ports and start timeout (local runs and tests only)."""

    stack_kafka_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_redis_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_s3_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_start_timeout_s: float = Field(
        30.0, description="How long `stack up` waits for the servers."
    )
