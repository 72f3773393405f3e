"""Settings of the scoring worker: its Faust app, ingest limits, batching, poison guard."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class WorkerSettings(BaseModel):
    """The worker process: consumer group, web port, ingest limits, batches."""

    app_id: str = Field(
        "opinion-monitor", description="Faust app id = consumer group of the workers."
    )
    worker_web_port: int = Field(6066, description="Faust web port (metrics at /metrics).")
    worker_web_bind: str = Field("127.0.0.1", description="Interface for the worker web port.")
    model_poll_s: float = Field(
        30.0, gt=0, description="How often workers also check the registry for a new model."
    )
    max_text_chars: int = Field(20_000, ge=1, description="Longer texts are dead-lettered.")
    max_message_bytes: int = Field(1_000_000, ge=1, description="Bigger payloads dead-lettered.")
    author_hash_salt: SecretStr = Field(
        SecretStr("opinion-monitor-default-salt"),
        description="Secret key (HMAC) of author hashes and repost keys in Redis; set a long "
        "random value in production.",
    )
    dedup_window_s: int = Field(
        3600,
        ge=1,
        description="Same normalised text within this many seconds of event time = a repost "
        "(counted, not scored); also how long a post sent twice is recognised.",
    )
    watches_file: Path | None = Field(None, description="YAML seeding the watches in Redis.")
    batch_max_size: int = Field(64, ge=1, description="Largest scoring batch.")
    # 0.1 s: p95 produce-to-Redis latency at half load 1.1 -> 0.7 s (BENCHMARKS.md); under a
    # backlog batches fill at once and the wait does not apply.
    batch_max_wait_s: float = Field(0.1, gt=0, description="Longest wait to fill a batch.")
    kafka_session_timeout_s: float = Field(
        10.0, description="Consumer session timeout (failover time of a dead worker)."
    )
    poison_max_attempts: int = Field(
        3, ge=1, description="Worker deaths on one message before it is dead-lettered unread."
    )
    poison_attempt_ttl_s: int = Field(
        86_400, ge=60, description="How long an uncommitted attempt at a message is remembered."
    )
