"""The dead-letter topic (raw personal data) is created with its own retention."""

from __future__ import annotations

from typing import Any

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
