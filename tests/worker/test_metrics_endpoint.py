"""A real worker's ``/metrics`` (embedded broker and Redis): labelled counts, consumer lag
per partition and process metrics, as Prometheus would parse them."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import Settings
from tests.harness import WorkerProcess, consume_all, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(worker: WorkerProcess) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{worker.port}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labelled(found: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in found.items() if n == name}


def post(post_id: str, source: str, text: str, lang: str) -> bytes:
    body = {"id": post_id, "source": source, "created_at": "2026-05-01T10:00:00+00:00",
            "text": text, "lang": lang}  # fmt: skip
    return json.dumps(body).encode()


def test_metrics_show_labelled_counts_consumer_lag_and_process(fresh_topics: Settings) -> None:
    settings = fresh_topics
    worker = WorkerProcess(settings, name="metrics")
    try:
        worker.wait_ready()
        sent = produce(settings, [
            ("social", b"m-en", post("m-en", "social", "The new phone is great", "en")),
            ("news", b"m-zh", post("m-zh", "news", "这家航空公司的服务太差了", "zh")),
            ("social", b"m-bad", b'{"id": "m-bad", '),
        ])  # fmt: skip
        assert sent == 3
        scored = consume_all(settings, "scored", until=lambda got: len(got) >= 2, timeout_s=120)
        deadline = time.monotonic() + 60
        while True:  # until the counts are in and the offsets committed (every lag 0)
            found = scrape(worker)
            lags = labelled(found, "opinion_consumer_lag")
            done = sum(labelled(found, "opinion_scored_total").values()) == 2
            if (done and lags and not any(lags.values())) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    routes = {(s["model_route"], s["source"], s["lang"]) for s in scored}
    assert routes == {("en", "social", "en"), ("zh", "news", "zh")}
    assert labelled(found, "opinion_scored_total") == {
        frozenset({"route": route, "source": source, "lang": lang}.items()): 1
        for route, source, lang in routes
    }
    assert labelled(found, "opinion_dead_lettered_total") == {
        frozenset({"stage": "parse", "reason": "malformed_json"}.items()): 1
    }
    partitions = {
        (settings.topic(role), str(p)) for role in ("social", "news")
        for p in range(settings.input_partitions)
    }  # fmt: skip
    assert {(dict(k)["topic"], dict(k)["partition"]) for k in lags} == partitions
    assert not any(lags.values()), f"offsets not committed: {lags}"
    assert found[("process_cpu_seconds_total", frozenset())] > 0
    assert found[("process_resident_memory_bytes", frozenset())] > 0
