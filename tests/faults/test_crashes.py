"""Crashes under a steady replay, each on its own durable stack (S3-backed Tansu, AOF Redis):
kill -9 of workers (on one Redis and on a local 3-primary Redis Cluster), of the broker and
of Redis. Nothing the broker acknowledged may be missing from the scored/dead-letter topics,
and the Redis aggregates must count every unique post exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from devkit.stack import StackState
from devkit.stack.cluster import local_cluster
from devkit.stack.embedded import restart_process
from pipeline.alerting.store import AlertStore
from pipeline.redis_io import redis_client
from tests.alerting.servers import sample_alert
from tests.faults.helpers import (
    WORKER_ENV,
    Outcome,
    Row,
    SteadyReplay,
    account,
    assert_no_agent_crash,
    durable_stack,
    fault_settings,
    feed,
    start_worker,
)
from tests.harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RATE = 150.0  # messages/s: steady, well within one worker's pace with the tiny model


def assert_clean(row: Row, out: Outcome, replay: SteadyReplay) -> None:
    assert replay.acked > 0.5 * len(replay.items), f"producer stalled: {replay.errors}"
    assert row.lost == 0, row
    assert row.double_counted == 0, row
    valid = {item.valid_id for item in replay.items if item.valid_id is not None}
    invalid = {item.key for item in replay.items if item.valid_id is None}
    assert set(out.scored) <= valid, "scored posts nobody sent"
    assert set(out.dead) <= invalid, "valid posts (or unknown messages) dead-lettered"
    assert out.dead_reasons_ok, "a dead letter without a reason or stage"


def test_worker_kill9_one_of_two_then_the_only_one(
    tmp_path: Path, tiny_model: Path, fault_report: list[Row]
) -> None:
    n = 3000
    with durable_stack(fault_settings(tmp_path, tiny_model)) as settings:
        w1, w2 = start_worker(settings, "w1"), start_worker(settings, "w2")
        w3 = None
        replay = SteadyReplay(settings, feed(n, "wk"), RATE)
        try:
            replay.start()
            replay.wait_sent(n // 4)
            w1.kill()  # one of two: w2 takes over its partitions after the session timeout
            replay.wait_sent(n // 2)
            w2.kill()  # the only worker: nothing runs until it is restarted
            time.sleep(2)
            w3 = start_worker(settings, "w3")
            replay.join(300)
            row, out = account("worker kill -9 (1 of 2, then the only one)", settings, replay, n)
            assert w3.proc.poll() is None, w3.log_tail()
        finally:
            replay.stop_event.set()
            for worker in (w1, w2, w3):
                if worker is not None:
                    worker.stop()
    fault_report.append(row)
    for worker in (w1, w2, w3):
        assert_no_agent_crash(worker)  # type: ignore[arg-type]
    assert_clean(row, out, replay)


def test_worker_kill9_one_of_two_on_a_redis_cluster(
    tmp_path: Path, tiny_model: Path, fault_report: list[Row]
) -> None:
    """The same crash with Redis a local 3-primary Redis Cluster (``OPINION_REDIS_CLUSTER``):
    the survivor re-processes what the dead worker had not committed, every aggregate exact."""
    n = 2000
    with local_cluster(tmp_path / "redis-cluster") as cluster:
        base = fault_settings(tmp_path, tiny_model, redis_url=cluster.url, redis_cluster=True)
        with durable_stack(base) as settings:
            w1, w2 = (WorkerProcess(settings, name, env=WORKER_ENV) for name in ("w1", "w2"))
            replay = SteadyReplay(settings, feed(n, "wc"), RATE)
            try:
                for worker in (w1, w2):  # started together: one start-up wait, not two
                    worker.wait_ready(180)
                replay.start()
                replay.wait_sent(n // 3)
                w1.kill()  # w2 takes over its partitions after the session timeout
                replay.join(300)
                row, out = account(
                    "worker kill -9 (1 of 2) on a 3-primary Redis Cluster", settings, replay, n
                )
                assert w2.proc.poll() is None, w2.log_tail()
            finally:
                replay.stop_event.set()
                for worker in (w1, w2):
                    worker.stop()
    fault_report.append(row)
    for worker in (w1, w2):
        assert_no_agent_crash(worker)
    assert_clean(row, out, replay)


def test_broker_kill9_and_restart(
    tmp_path: Path, tiny_model: Path, fault_report: list[Row]
) -> None:
    n = 3000
    with durable_stack(fault_settings(tmp_path, tiny_model)) as settings:
        worker = start_worker(settings, "w")
        replay = SteadyReplay(settings, feed(n, "bk"), RATE)
        try:
            replay.start()
            for fraction in (0.25, 0.6):
                replay.wait_sent(int(n * fraction))
                restart_process(settings, "kafka")
            replay.join(300)
            row, out = account("broker kill -9 + restart (x2)", settings, replay, n)
            assert worker.proc.poll() is None, worker.log_tail()
        finally:
            replay.stop_event.set()
            worker.stop()
    fault_report.append(row)
    assert_no_agent_crash(worker)
    assert_clean(row, out, replay)


def test_redis_kill9_down_then_restarted(
    tmp_path: Path, tiny_model: Path, fault_report: list[Row]
) -> None:
    n = 3000
    down_s = 15.0  # longer than the consumer session timeout (6 s)
    with durable_stack(fault_settings(tmp_path, tiny_model)) as settings:
        client = redis_client(settings)
        alerts = AlertStore(client, settings)
        alerts.open(sample_alert("acme-before-crash"))
        worker = start_worker(settings, "w")
        replay = SteadyReplay(settings, feed(n, "rd"), RATE)
        try:
            replay.start()
            replay.wait_sent(n // 4)
            state = StackState.load(settings.stack_file)
            assert state is not None
            psutil.Process(state.processes["redis"].pid).kill()
            time.sleep(down_s)
            assert worker.proc.poll() is None, "the worker died while Redis was down"
            retries = worker.metrics()["opinion_redis_retries_total"]
            restart_process(settings, "redis")
            replay.join(300)
            row, out = account(
                f"Redis kill -9, down {down_s:.0f} s, restart (AOF)", settings, replay, n
            )
            assert worker.proc.poll() is None, worker.log_tail()
            alert = alerts.get("acme-before-crash")
            log = worker.log_path.read_text(errors="replace")
        finally:
            replay.stop_event.set()
            worker.stop()
            client.close()
    fault_report.append(row)
    assert_no_agent_crash(worker)
    assert retries > 0, "the worker did not notice Redis was down"
    assert "spike detection skipped: Redis unavailable" in log, "detection timer did not log"
    assert alert is not None and alert.state == "firing", "alert state lost in the restart"
    assert_clean(row, out, replay)
