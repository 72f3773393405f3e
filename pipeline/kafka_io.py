"""Kafka client factories: one place that turns ``Settings`` into client options.

Both clients are used: aiokafka inside Faust and async code, kafka-python in scripts,
replay and training. Producers are idempotent (``OPINION_KAFKA_IDEMPOTENCE``) except against
the embedded Tansu broker, where idempotent producers lose acknowledged messages; the
pipeline is at-least-once with idempotent effects downstream either way.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from pipeline.config import Settings, TopicSpec


class BrokerUnavailable(RuntimeError):
    """The configured broker did not answer."""


def security_kwargs(settings: Settings) -> dict[str, Any]:
    """SASL/TLS options in kafka-python's names (aiokafka uses the same ones)."""
    kwargs: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            kwargs["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol.endswith("SSL"):
        kwargs["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    return kwargs


def _unavailable(settings: Settings) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"No Kafka broker answers at {settings.resolved_kafka_bootstrap()} within "
        f"{settings.kafka_connect_timeout_s:.0f}s: start one with `opinion stack up` or fix "
        "OPINION_KAFKA_BOOTSTRAP."
    )


def _common(settings: Settings, client_suffix: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.resolved_kafka_bootstrap().split(","),
        "client_id": f"{settings.kafka_client_id}-{client_suffix}",
        "bootstrap_timeout_ms": int(settings.kafka_connect_timeout_s * 1000),
        **security_kwargs(settings),
    }


def admin_client(settings: Settings, timeout_s: float = 10.0) -> KafkaAdminClient:
    """An admin client, or ``BrokerUnavailable`` with what to do."""
    try:
        return KafkaAdminClient(
            **_common(settings, "admin"), request_timeout_ms=int(timeout_s * 1000)
        )
    except KafkaTimeoutError as exc:
        raise _unavailable(settings) from exc


def embedded_broker(settings: Settings) -> bool:
    """True when the broker is the Tansu that ``opinion stack up`` started for this state
    dir (``stack.json`` lists its process at this address)."""
    try:
        stack = json.loads(settings.stack_file.read_text())
    except (OSError, ValueError):
        return False
    return (
        "kafka" in stack.get("processes", {})
        and stack.get("kafka_bootstrap") == settings.resolved_kafka_bootstrap()
    )


def idempotence(settings: Settings) -> bool:
    """Whether producers are idempotent: ``OPINION_KAFKA_IDEMPOTENCE``, never on Tansu (with
    it, ~60 acknowledged messages were lost per broker restart; ENVIRONMENT.md)."""
    return settings.kafka_idempotence and not embedded_broker(settings)


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A kafka-python producer: acks=all, retries on, idempotent as ``idempotence`` says."""
    options: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": idempotence(settings),
        "retries": 10,
        "linger_ms": 5,
        "max_request_size": settings.max_message_bytes + 64 * 1024,
    }
    options.update(overrides)
    try:
        return KafkaProducer(**_common(settings, "producer"), **options)
    except KafkaTimeoutError as exc:
        raise _unavailable(settings) from exc


def consumer(
    settings: Settings, *topics: str, group_id: str | None, **overrides: Any
) -> KafkaConsumer:
    """A kafka-python consumer with short local session timeouts."""
    options: dict[str, Any] = {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "session_timeout_ms": int(settings.kafka_session_timeout_s * 1000),
        "heartbeat_interval_ms": 1000,
    }
    options.update(overrides)
    try:
        return KafkaConsumer(*topics, **_common(settings, "consumer"), **options)
    except KafkaTimeoutError as exc:
        raise _unavailable(settings) from exc


def topic_configs(settings: Settings, spec: TopicSpec) -> dict[str, str]:
    """Topic-level configs set when a topic is created: ``min.insync.replicas`` when
    configured, and the dead-letter topic, which keeps raw personal data (original bytes),
    gets its own retention."""
    configs: dict[str, str] = {}
    if settings.topic_min_insync_replicas is not None:
        configs["min.insync.replicas"] = str(settings.topic_min_insync_replicas)
    if spec.role == "dead_letter" and settings.dead_letter_retention_s > 0:
        configs["retention.ms"] = str(settings.dead_letter_retention_s * 1000)
    return configs


def ensure_topics(settings: Settings, specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Create each topic that does not exist yet (with ``topic_configs``); returns the names
    created. Existing topics are left as they are (docs/privacy.md: changing retention)."""
    wanted = list(specs if specs is not None else settings.topics().values())
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in wanted if s.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                topic = NewTopic(
                    spec.name,
                    spec.partitions,
                    settings.topic_replication_factor,
                    topic_configs=topic_configs(settings, spec),
                )
                admin.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def broker_healthy(settings: Settings, timeout_s: float = 3.0) -> bool:
    """True when the broker answers a metadata request."""
    try:
        quick = settings.model_copy(update={"kafka_connect_timeout_s": timeout_s})
        admin = admin_client(quick, timeout_s=timeout_s)
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def faust_producer(settings: Settings) -> type:
    """Faust's aiokafka producer class, idempotent as ``idempotence`` says (set it as the
    app transport's ``Producer``); Faust's transactions keep theirs."""
    from faust.transport.drivers import aiokafka as faust_aiokafka

    enabled = idempotence(settings)

    class Producer(faust_aiokafka.Producer):
        def _settings_extra(self) -> dict[str, Any]:
            return {"enable_idempotence": enabled, **super()._settings_extra()}

    return Producer


def faust_credentials(settings: Settings):
    """The same SASL/TLS settings as Faust ``broker_credentials`` (None for PLAINTEXT)."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = security_kwargs(settings).get("ssl_context")
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else None,
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
    )
