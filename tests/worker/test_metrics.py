"""Worker metrics: labelled counts from real batches, bounded labels, lag, histograms, text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pipeline.worker.batch import RawMessage
from pipeline.worker.metrics import MAX_LANG_LABELS, WorkerMetrics, reason_kind
from tests.worker.test_batch import make_processor, post, run

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics: WorkerMetrics) -> Samples:
    """Every sample of ``/metrics`` as parsed by prometheus-client: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(metrics.render())
        for s in family.samples
    }


def labelled(found: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in found.items() if n == name}


def L(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def test_a_batch_is_counted_by_route_source_language_stage_and_reason() -> None:
    processor, _ = make_processor()
    batch = [
        post(1, "great day"),
        post(2, "terrible service", source="news"),
        post(3, "很好", lang="zh-hant"),
        post(4, "great day again"),
        post(5, "RT @someone: great day"),  # a repost of p1
        RawMessage(value=b"{not json", topic="in", offset=6),
        RawMessage(value=b"\xff\xfe", topic="in", offset=7),
        post(8, "x" * 101),
        post(9, "ok", url=7),
        post(10, "this will explode"),
    ]
    run(processor, batch)
    run(processor, [post(1, "great day")])  # re-delivered after commit
    found = samples(processor.metrics)
    assert labelled(found, "opinion_scored_total") == {
        L(route="fake", source="social", lang="en"): 2,
        L(route="fake", source="news", lang="en"): 1,
        L(route="fake-zh-hant", source="social", lang="zh"): 1,
    }
    assert labelled(found, "opinion_dead_lettered_total") == {
        L(stage="parse", reason="malformed_json"): 1,
        L(stage="decode", reason="invalid_utf8"): 1,
        L(stage="validate", reason="text_too_long"): 1,
        L(stage="validate", reason="invalid_url"): 1,
        L(stage="score", reason="scoring_failed"): 1,
    }
    assert labelled(found, "opinion_duplicates_total") == {
        L(kind="repost"): 1,
        L(kind="redelivered"): 1,
    }
    assert found[("opinion_consumed_total", L())] == 11
    assert found[("opinion_end_to_end_lag_seconds_count", L())] == 4


def test_reason_categories_are_bounded() -> None:
    assert reason_kind("decode", "message is 99 bytes, over the 10-byte limit") == "too_large"
    assert reason_kind("validate", "created_at: 1900-01-01 is outside 1970..2200") == (
        "invalid_created_at"
    )
    assert reason_kind("validate", "<root>: Input should be a valid dictionary") == (
        "invalid_fields"
    )
    assert reason_kind("validate", "zzz_free_text: anything") == "invalid_fields"
    assert reason_kind("normalise", "KeyError: 'x' [original 9 bytes, first 3 kept]") == "other"
    assert reason_kind("score", "poison: killed the worker 3 times") == "poison"


def test_language_labels_are_primary_subtags_and_capped() -> None:
    metrics = WorkerMetrics(process=False)
    processor, _ = make_processor()
    processor.metrics = metrics
    langs = [f"q{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(MAX_LANG_LABELS + 5)]
    run(processor, [post(i, f"great {lang}", lang=f"{lang}-xy") for i, lang in enumerate(langs)])
    counts = labelled(samples(metrics), "opinion_scored_total")
    by_lang: dict[str, float] = {}
    for labels, value in counts.items():
        lang = dict(labels)["lang"]
        by_lang[lang] = by_lang.get(lang, 0) + value
    assert len(by_lang) == MAX_LANG_LABELS + 1
    assert by_lang["other"] == 5 and by_lang[langs[0]] == 1


def test_consumer_lag_is_read_per_partition_at_scrape_time() -> None:
    metrics = WorkerMetrics(process=False)
    assert labelled(samples(metrics), "opinion_consumer_lag") == {}
    lags = {("posts.social", 0): 5, ("posts.news", 1): 0}
    metrics.consumer_lag = lambda: lags
    assert labelled(samples(metrics), "opinion_consumer_lag") == {
        L(topic="posts.social", partition="0"): 5,
        L(topic="posts.news", partition="1"): 0,
    }
    lags[("posts.social", 0)] = 2
    assert samples(metrics)[("opinion_consumer_lag", L(topic="posts.social", partition="0"))] == 2


def test_histograms_take_a_batch_with_inclusive_upper_bounds() -> None:
    metrics = WorkerMetrics(process=False)
    metrics.end_to_end_lag.observe_many([0.01, 0.02, 1.0, 99.0])
    metrics.model_latency.observe(0.3)
    found = samples(metrics)
    bucket = "opinion_end_to_end_lag_seconds_bucket"
    assert found[(bucket, L(le="0.01"))] == 1  # 0.01 <= 0.01
    assert found[(bucket, L(le="0.025"))] == 2
    assert found[(bucket, L(le="1.0"))] == 3
    assert found[(bucket, L(le="30.0"))] == 3
    assert found[(bucket, L(le="+Inf"))] == 4
    assert found[("opinion_end_to_end_lag_seconds_count", L())] == 4
    assert abs(found[("opinion_end_to_end_lag_seconds_sum", L())] - 100.03) < 1e-9
    assert found[("opinion_model_latency_seconds_count", L())] == 1


def test_alert_metrics_model_version_and_process_metrics() -> None:
    metrics = WorkerMetrics()
    metrics.model_version = "v7"
    metrics.count_delivery("sent", "webhook")
    metrics.count_delivery("sent", "webhook")
    metrics.count_alert_opened(["share"], "high")
    metrics.set_delivery_backlog("webhook", 3, 1.5)
    metrics.model_swaps.inc()
    found = samples(metrics)
    assert found[("opinion_alert_deliveries_sent_total", L(channel="webhook"))] == 2
    assert found[("opinion_alerts_opened_total", L(kind="share", severity="high"))] == 1
    assert found[("opinion_alert_deliveries_pending", L(channel="webhook"))] == 3
    assert found[("opinion_alert_delivery_oldest_pending_seconds", L(channel="webhook"))] == 1.5
    assert found[("opinion_alerts_total", L())] == 1
    assert found[("opinion_model_swaps_total", L())] == 1
    assert found[("opinion_model_info", L(version="v7"))] == 1
    assert found[("process_resident_memory_bytes", L())] > 0
    assert ("python_info", L()) not in found  # has labels: implementation, version...
    assert any(name == "python_info" for name, _ in found)
    assert not any(name.endswith("_created") for name, _ in found)


def test_each_worker_metrics_has_its_own_registry() -> None:
    first, second = WorkerMetrics(process=False), WorkerMetrics(process=False)
    first.consumed.inc(3)
    assert samples(second)[("opinion_consumed_total", L())] == 0
