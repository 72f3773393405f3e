"""Kafka SASL/TLS settings reach every client: kafka-python (replay, topics, alerts), aiokafka
(model updates) and Faust (the worker's consumer and producer).

A full SASL round trip cannot run locally: the embedded Tansu 0.6.0 enforces
``--authentication`` but keeps SCRAM users only in memory (its S3 engine does not persist
them) and needs an authenticated client to create one. So the integration test checks
what can be checked: an authenticating broker refuses our PLAINTEXT clients, and our SASL
settings make kafka-python and aiokafka run the SCRAM exchange on the wire (the broker then
answers ``unknown-user``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaConsumer, KafkaProducer

from devkit.stack.binaries import tansu_binary
from devkit.stack.processes import free_port, start_detached, stop, wait_for_port
from pipeline.config import Settings
from pipeline.kafka_io import BrokerUnavailable, broker_healthy, faust_credentials, security_kwargs
from pipeline.kafka_io import producer as make_producer

SASL_PW = "sasl-test-pw-3b7"


def sasl(protocol: str = "SASL_SSL", **extra: object) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap": "127.0.0.1:1",
        "kafka_security_protocol": protocol,
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "opinion-app",
        "kafka_sasl_password": SASL_PW,
    }
    return Settings(_env_file=None, **(values | extra))  # type: ignore[arg-type]


def test_security_kwargs_per_protocol() -> None:
    plain = security_kwargs(Settings(_env_file=None))
    assert plain == {"security_protocol": "PLAINTEXT"}
    tls = security_kwargs(Settings(_env_file=None, kafka_security_protocol="SSL"))
    assert tls["security_protocol"] == "SSL" and isinstance(tls["ssl_context"], ssl.SSLContext)
    assert tls["ssl_context"].verify_mode == ssl.CERT_REQUIRED and tls["ssl_context"].check_hostname
    kw = security_kwargs(sasl())
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kw["sasl_plain_username"] == "opinion-app" and kw["sasl_plain_password"] == SASL_PW
    assert isinstance(kw["ssl_context"], ssl.SSLContext)
    assert "ssl_context" not in security_kwargs(sasl("SASL_PLAINTEXT"))


def test_security_kwargs_are_valid_options_of_both_clients() -> None:
    kw = security_kwargs(sasl())
    assert set(kw) <= set(KafkaProducer.DEFAULT_CONFIG) & set(KafkaConsumer.DEFAULT_CONFIG)
    for cls in (AIOKafkaProducer, AIOKafkaConsumer):
        assert set(kw) <= set(inspect.signature(cls.__init__).parameters), cls


def test_ca_file_is_loaded_into_the_tls_context(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(FileNotFoundError):
        security_kwargs(Settings(_env_file=None, kafka_security_protocol="SSL",
                                 kafka_ssl_cafile=missing))  # fmt: skip


def test_faust_gets_the_same_credentials() -> None:
    assert faust_credentials(Settings(_env_file=None)) is None
    creds = faust_credentials(sasl())
    assert isinstance(creds, faust.SASLCredentials)
    auth = credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_username"] == "opinion-app"
    assert auth["sasl_plain_password"] == SASL_PW
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    tls = credentials_to_aiokafka_auth(
        faust_credentials(Settings(_env_file=None, kafka_security_protocol="SSL"))
    )
    assert tls["security_protocol"] == "SSL" and isinstance(tls["ssl_context"], ssl.SSLContext)
    assert SASL_PW not in repr(creds)


def test_worker_app_is_built_with_the_credentials(tmp_path: Path) -> None:
    from pipeline.worker.app import create_app
    from pipeline.worker.batch import BatchProcessor
    from pipeline.worker.model_holder import ModelHolder
    from tests.worker.fakes import KeywordScorer, MemoryAggregates, MemoryGuard

    settings = sasl(state_dir=tmp_path)

    async def watches():  # type: ignore[no-untyped-def]
        from pipeline.watches.model import WatchSet

        return WatchSet([])

    processor = BatchProcessor(
        settings,
        model=ModelHolder(lambda _p: KeywordScorer(), KeywordScorer()),
        guard=MemoryGuard(),  # type: ignore[arg-type]
        aggregates=MemoryAggregates(),
        watches=watches,
    )
    app = create_app(settings, processor=processor)
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_plain_password"] == SASL_PW


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded Tansu that requires client authentication."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    cmd = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url",
           url, "--storage-engine", "memory://tansu/", "--authentication"]  # fmt: skip
    proc = start_detached("kafka-auth", cmd, log_dir=tmp_path_factory.mktemp("auth"), port=port)
    try:
        assert wait_for_port(port, 20)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.mark.integration
def test_authenticating_broker_refuses_plaintext_and_sees_our_scram(
    auth_broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    plain = Settings(_env_file=None, kafka_bootstrap=auth_broker, kafka_connect_timeout_s=2)
    assert not broker_healthy(plain, timeout_s=2)
    settings = sasl("SASL_PLAINTEXT", kafka_bootstrap=auth_broker, kafka_connect_timeout_s=2)
    with caplog.at_level(logging.DEBUG, logger="kafka"), pytest.raises(BrokerUnavailable):
        make_producer(settings)
    assert "SaslHandshakeRequest" in caplog.text and "SCRAM-SHA-512" in caplog.text
    assert "n=opinion-app" in caplog.text and "unknown-user" in caplog.text
    assert SASL_PW not in caplog.text, "kafka-python logged the SASL password"
    caplog.clear()

    async def aiokafka_attempt() -> None:
        client = AIOKafkaProducer(bootstrap_servers=auth_broker, request_timeout_ms=2000,
                                  **security_kwargs(settings))  # fmt: skip
        try:
            await asyncio.wait_for(client.start(), 10)
        finally:
            await client.stop()

    with caplog.at_level(logging.DEBUG, logger="aiokafka"), pytest.raises(Exception):  # noqa: B017
        asyncio.run(aiokafka_attempt())
    # aiokafka sends the same SCRAM exchange (then fails to parse the rejection: KeyError)
    assert "SaslHandShakeRequest" in caplog.text and "SCRAM-SHA-512" in caplog.text
    assert "n=opinion-app" in caplog.text and SASL_PW not in caplog.text
