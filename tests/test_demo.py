"""``opinion demo``'s handling of state left by an earlier run (real embedded Redis)."""

from __future__ import annotations

import pytest
import typer

from devkit.demo import prepare_state, threads_per_worker
from pipeline.config import Settings


def test_fresh_clears_the_embedded_redis_and_otherwise_explains_reposts(
    stack_settings: Settings, redis_db
) -> None:  # type: ignore[no-untyped-def]
    configured = stack_settings.model_copy(update={"redis_url": None})  # embedded: not set
    assert prepare_state(configured, stack_settings, fresh=False) == ""
    redis_db.set("opinion:dedup:abc", "1")
    note = prepare_state(configured, stack_settings, fresh=False)
    assert "1 keys from an earlier run" in note and "--fresh" in note
    assert redis_db.dbsize() == 1, "without --fresh nothing is deleted"
    assert "cleared" in prepare_state(configured, stack_settings, fresh=True)
    assert redis_db.dbsize() == 0


def test_fresh_refuses_a_configured_redis(stack_settings: Settings, redis_db) -> None:  # type: ignore[no-untyped-def]
    redis_db.set("someone:else", "1")
    with pytest.raises(typer.BadParameter, match="OPINION_REDIS_URL"):
        prepare_state(stack_settings, stack_settings, fresh=True)
    assert redis_db.get("someone:else") == b"1"


def test_the_demo_splits_the_cores_among_its_workers() -> None:
    assert threads_per_worker(2, cores=2) == 1
    assert threads_per_worker(2, cores=16) == 8
    assert threads_per_worker(3, cores=2) == 1
    assert threads_per_worker(1, cores=4) == 4


def test_a_busy_stack_lock_at_shutdown_is_one_line_not_a_traceback(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    """Seen when another `opinion stack` command held the lock while the demo stopped."""
    from devkit.demo import _stop_stack
    from devkit.stack.embedded import _locked

    settings = Settings(_env_file=None, state_dir=tmp_path)  # type: ignore[call-arg]
    with _locked(settings):
        _stop_stack(settings)
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "Another `opinion stack` command" in err and "opinion stack down" in err
