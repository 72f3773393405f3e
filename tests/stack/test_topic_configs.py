"""Kafka settings for production: topics' replication, min ISR and the dead-letter topic's
retention (raw personal data); idempotent producers, off against the embedded broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faust
import pytest

from pipeline import kafka_io
from pipeline.config import Settings


class RecordingAdmin:
    """Stands in for KafkaAdminClient: records the topics it is asked to create."""

    def __init__(self) -> None:
        self.created: list[Any] = []

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, topics: list[Any]) -> None:
        self.created.extend(topics)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("retention_s", "expected"), [(3 * 86400, "259200000"), (0, None)])
def test_dead_letter_topic_is_created_with_its_retention(
    monkeypatch: pytest.MonkeyPatch, retention_s: int, expected: str | None
) -> None:
    admin = RecordingAdmin()
    monkeypatch.setattr(kafka_io, "admin_client", lambda settings: admin)
    settings = Settings(_env_file=None, dead_letter_retention_s=retention_s)
    kafka_io.ensure_topics(settings)
    configs = {t.name: t.topic_configs for t in admin.created}
    assert configs[settings.topic_dead_letter].get("retention.ms") == expected
    others = [c for name, c in configs.items() if name != settings.topic_dead_letter]
    assert len(others) == 6 and not any(others), "only the dead-letter topic gets a retention"


def test_topics_get_the_replication_factor_and_min_insync_replicas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = RecordingAdmin()
    monkeypatch.setattr(kafka_io, "admin_client", lambda settings: admin)
    kafka_io.ensure_topics(
        Settings(_env_file=None, topic_replication_factor=3, topic_min_insync_replicas=2)
    )
    assert len(admin.created) == 7
    assert {t.replication_factor for t in admin.created} == {3}
    assert all(t.topic_configs["min.insync.replicas"] == "2" for t in admin.created)

    admin.created.clear()
    kafka_io.ensure_topics(Settings(_env_file=None))
    assert {t.replication_factor for t in admin.created} == {1}
    assert not any("min.insync.replicas" in t.topic_configs for t in admin.created)


def _producer_options(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(kafka_io, "KafkaProducer", lambda **kwargs: seen.update(kwargs))
    kafka_io.producer(settings)
    return seen


def _faust_options(settings: Settings) -> dict[str, Any]:
    app = faust.App("idempotence-test", broker=f"kafka://{settings.kafka_bootstrap}")
    producer = kafka_io.faust_producer(settings)(app.transport)
    return {**producer._settings_default(), **producer._settings_extra()}


def _stack_file(state: Path, bootstrap: str) -> None:
    state.mkdir(parents=True, exist_ok=True)
    stack = {"kafka_bootstrap": bootstrap, "processes": {"kafka": {"pid": 1}}}
    (state / "stack.json").write_text(json.dumps(stack))


def test_producers_are_idempotent_except_on_the_embedded_broker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = Settings(_env_file=None, state_dir=tmp_path / "a", kafka_bootstrap="kafka:9092")
    assert cluster.kafka_idempotence, "on by default"
    for options in (_producer_options(monkeypatch, cluster), _faust_options(cluster)):
        assert options["enable_idempotence"] is True and options["acks"] in ("all", -1)

    _stack_file(tmp_path / "b", "127.0.0.1:9")  # `opinion stack up` started Tansu there
    embedded = Settings(_env_file=None, state_dir=tmp_path / "b", kafka_bootstrap="127.0.0.1:9")
    unset = embedded.model_copy(update={"kafka_bootstrap": None})  # read from stack.json
    elsewhere = embedded.model_copy(update={"kafka_bootstrap": "kafka:9092"})
    off = cluster.model_copy(update={"kafka_idempotence": False})
    assert not kafka_io.idempotence(embedded) and not kafka_io.idempotence(unset)
    assert kafka_io.idempotence(elsewhere), "a real cluster next to a local stack"
    for settings in (embedded, off):
        assert _producer_options(monkeypatch, settings)["enable_idempotence"] is False
        assert _faust_options(settings)["enable_idempotence"] is False


def test_embedded_stack_settings_turn_idempotence_off(stack_settings: Settings) -> None:
    """Tests, workers and the demo on the embedded broker: off (it loses data with it on)."""
    fresh = Settings(_env_file=None, state_dir=stack_settings.state_dir)
    assert fresh.kafka_idempotence and not kafka_io.idempotence(fresh)
    assert not kafka_io.idempotence(stack_settings)
