"""``opinion topics`` against the real embedded broker and Redis: an input topic it creates
(new, or deleted and created again) starts counting at offset 0, and ``--forget`` does the
same for a topic recreated by other means."""

from __future__ import annotations

import uuid

import pytest

from pipeline import cli, keys
from pipeline.config import TOPIC_ROLES, Settings, get_settings

pytestmark = pytest.mark.integration


def test_created_input_topics_forget_their_recorded_offsets(
    stack_settings: Settings,
    redis_db,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    suffix = uuid.uuid4().hex[:8]
    env = stack_settings.to_env() | {
        f"OPINION_TOPIC_{role.upper()}": f"t-{suffix}.{role}" for role in TOPIC_ROLES
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    social = f"t-{suffix}.social"
    # what a deleted topic of the same name left behind
    redis_db.hset(keys.WATERMARKS, keys.input_field(social, 0), "1.000|2.000|500")
    redis_db.hset(keys.offsets_key(None), keys.input_field(social, 0), "499")
    redis_db.hset(keys.offsets_key("acme"), keys.input_field(social, 3), "77")
    redis_db.zadd(keys.FIRST_SEEN, {"acme": 1})
    redis_db.hset(keys.offsets_key(None), "elsewhere:0", "5")

    def opinion(*args: str) -> str:
        get_settings.cache_clear()
        try:
            cli.main(["topics", *args])
        except SystemExit as exited:
            assert exited.code in (0, None)
        finally:
            get_settings.cache_clear()
        return capsys.readouterr().out

    out = opinion()
    assert f"{social}: forgot 3 recorded offsets" in out and "created" in out
    assert redis_db.hkeys(keys.offsets_key(None)) == [b"elsewhere:0"]
    assert not redis_db.hkeys(keys.offsets_key("acme"))
    assert not redis_db.hexists(keys.WATERMARKS, keys.input_field(social, 0))

    redis_db.hset(keys.offsets_key(None), keys.input_field(social, 1), "9")
    assert "forgot" not in opinion(), "an existing topic keeps its offsets"
    assert redis_db.hexists(keys.offsets_key(None), keys.input_field(social, 1))
    assert f"{social}: forgot 1 recorded offsets" in opinion("--forget", social)
