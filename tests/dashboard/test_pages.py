"""Each page under ``streamlit.testing.v1.AppTest`` against a seeded embedded Valkey."""

from __future__ import annotations

import json

import pytest

from dashboard.data import LABELED_KEY
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.model.card import ModelCard
from pipeline.model.registry import ModelRegistry
from pipeline.schemas import AlertReason
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from tests.dashboard.helpers import alert, app_test, minutes_ago, page_text, post
from tests.harness import consume_all

pytestmark = pytest.mark.integration


def seed(settings: Settings, redis_db) -> None:
    """Two watches; acme-air mostly negative with an open alert, zentro calm."""
    store = WatchStore(redis_db)
    store.put(Watch(id="acme-air", name="Acme Air", query='"acme air" OR #acmeair'))
    store.put(Watch(id="zentro", name="Zentro", query="zentro"))
    posts = [post(f"a-neg-{i}", "negative", at=minutes_ago(5 + i)) for i in range(6)]
    posts += [post(f"a-pos-{i}", "positive", at=minutes_ago(7 + i)) for i in range(2)]
    posts += [
        post(f"z-{i}", "positive", watch="zentro", text="Zentro phone is great", at=minutes_ago(8))
        for i in range(4)
    ]
    posts.append(post("z-news", "neutral", watch="zentro", source="news", at=minutes_ago(9)))
    AggregateStore(redis_db, settings).record_batch(posts)
    sample = posts[0].model_dump(mode="json")
    AlertStore(redis_db, settings).open(alert("acme-air-1", samples=[sample]))


def test_overview_shows_watches_ranked_by_negativity(dash_settings, redis_db) -> None:
    seed(dash_settings, redis_db)
    at = app_test("overview")
    text = page_text(at)
    assert "Overview" in text
    ranking = at.table[0].value
    assert list(ranking.index) == ["acme-air", "zentro"]  # most negative first
    assert ranking.loc["acme-air", "Posts (last hour)"] == 8
    assert ranking.loc["acme-air", "Negative (last hour)"] == "75%"
    assert ranking.loc["acme-air", "Open alerts"] == 1
    assert ranking.loc["zentro", "Negative (last hour)"] == "0%"
    assert "Posts in range 13" in text and "Open alerts 1" in text
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    specs = [json.loads(c.proto.spec) for c in charts]
    assert all('"rect"' in json.dumps(spec) for spec in specs)  # the alert period is shaded

    at.segmented_control(key="ov_range").set_value("1 h").run()
    at.toggle(key="ov_by_source").set_value(True).run()
    assert not at.exception
    assert at.table[0].value.loc["zentro", "Posts (range)"] == 5


def test_overview_without_data_says_how_to_get_some(dash_settings) -> None:
    at = app_test("overview")
    assert "No watches with data yet" in page_text(at)


def test_alerts_lists_context_and_acknowledges_then_resolves(dash_settings, redis_db) -> None:
    seed(dash_settings, redis_db)
    AlertStore(redis_db, dash_settings).open(
        alert("zentro-old", watch="zentro", state="resolved", severity="low")
    )
    at = app_test("alerts")
    text = page_text(at)
    assert "Acme Air · high · Open" in text
    assert "`delayed` `tarmac` `gate`" in text  # top terms
    assert "<mark" in text and "Flight" in text  # a sample post, terms highlighted
    assert "Zentro" not in text  # resolved alerts are hidden by default

    at.button(key="ack-acme-air-1").click().run()
    store = AlertStore(redis_db, dash_settings)
    acked = store.get("acme-air-1")
    assert acked is not None and acked.state == "acknowledged"
    assert acked.acknowledged_by == "analyst"
    assert "Alert acme-air-1 acknowledged." in page_text(at)
    assert [b.key for b in at.button] == ["resolve-acme-air-1"]

    at.button(key="resolve-acme-air-1").click().run()
    assert store.get("acme-air-1").state == "resolved"  # type: ignore[union-attr]
    assert "No alerts in the selected states." in page_text(at)
    at.pills(key="al_states").set_value(["resolved"]).run()
    text = page_text(at)
    assert "Acme Air · high · Resolved" in text and "Zentro · low · Resolved" in text


def test_an_alert_says_what_surged(dash_settings, redis_db) -> None:
    seed(dash_settings, redis_db)
    spike = alert("zentro-spike", watch="zentro", severity="low").model_copy(
        update={
            "kinds": ["negative_volume", "volume"],
            "reasons": [
                AlertReason(kind="negative_volume", observed=90, expected=30, ratio=3.0),
                AlertReason(kind="volume", observed=420, expected=95, ratio=4.42),
            ],
        }
    )
    AlertStore(redis_db, dash_settings).open(spike)
    text = page_text(app_test("alerts"))
    assert "negative posts 90 vs 30 expected (3.0x)" in text
    assert "mentions (all posts) 420 vs 95 expected (4.4x)" in text


def test_alerts_show_deliveries_and_requeue_a_parked_one(dash_settings, redis_db) -> None:
    seed(dash_settings, redis_db)
    with_hook = dash_settings.model_copy(
        update={"alert_webhook_url": "http://127.0.0.1:9/hook", "alert_min_severity_webhook": "low"}
    )
    store = AlertStore(redis_db, with_hook)
    store.open(alert("acme-air-2", severity="low"))
    [claimed] = store.deliveries.claim("webhook", 30)
    store.deliveries.park(claimed, "PermanentChannelError: HTTP 400 Bad Request from x")
    at = app_test("alerts")
    text = page_text(at)
    assert "Deliveries (2, 1 parked)" in [e.label for e in at.expander]
    assert "Parked: webhook (opened) after 1 attempt(s)" in text and "HTTP 400" in text
    [table] = [t.value for t in at.table if "webhook" in list(t.value["Channel"])]
    assert list(table["State"]) == ["⏳ pending", "⛔ parked"]
    assert list(table["Channel"]) == ["kafka", "webhook"] and list(table["Attempts"]) == [0, 1]

    at.button(key="requeue-acme-air-2_opened_webhook").click().run()
    assert "Delivery acme-air-2:opened:webhook re-queued." in page_text(at)
    assert store.deliveries.get(claimed.id).state == "pending"  # type: ignore[union-attr]
    assert not [e for e in at.error if "Parked:" in str(e.value)]


def test_drilldown_filters_and_highlights(dash_settings, redis_db) -> None:
    seed(dash_settings, redis_db)
    at = app_test("drilldown")
    at.selectbox(key="dd_watch").set_value("acme-air").run()
    html_posts = "\n".join(str(m.value) for m in at.markdown if "data-post-id" in str(m.value))
    assert html_posts.count('class="post"') == 8
    assert '<mark class="term"' in html_posts and ">delayed</mark>" in html_posts
    assert "neg 0.86" in html_posts  # probabilities

    at.multiselect(key="dd_labels").set_value(["positive"]).run()
    html_posts = "\n".join(str(m.value) for m in at.markdown if "data-post-id" in str(m.value))
    assert html_posts.count('class="post"') == 2 and ">Lovely</mark>" in html_posts

    at.selectbox(key="dd_watch").set_value("zentro").run()
    at.multiselect(key="dd_labels").set_value([]).run()
    at.selectbox(key="dd_source").set_value("news").run()
    html_posts = "\n".join(str(m.value) for m in at.markdown if "data-post-id" in str(m.value))
    assert 'data-post-id="z-news"' in html_posts and html_posts.count('class="post"') == 1


def test_labeling_publishes_labels_and_moves_on(dash_settings, redis_db) -> None:
    seed(dash_settings, redis_db)
    unsure = {"negative": 0.4, "neutral": 0.35, "positive": 0.25}
    AggregateStore(redis_db, dash_settings).record_batch(
        [
            post("q-unsure", "negative", probabilities=unsure, text="Acme Air, well, hmm"),
            post("q-disagree", "positive", lexicon_score=-0.7, text="Acme Air lost my bag, great"),
        ]
    )
    at = app_test("labeling")
    items = [str(m.value) for m in at.markdown if "label-item" in str(m.value)]
    # the alert's sample post comes first, then the disagreement, then the unsure one
    assert 'data-post-id="a-neg-0"' in items[0] and "alert sample" in items[0]
    assert at.get("progress")[0].proto.text == "0 labeled this session, 3 left in the queue"

    at.button(key="lb_positive").click().run()
    items = [str(m.value) for m in at.markdown if "label-item" in str(m.value)]
    assert 'data-post-id="q-disagree"' in items[0] and "lexicon disagrees" in items[0]
    assert "Labeled positive" in page_text(at)
    at.button(key="lb_skip").click().run()
    items = [str(m.value) for m in at.markdown if "label-item" in str(m.value)]
    assert 'data-post-id="q-unsure"' in items[0] and "low confidence" in items[0]
    at.button(key="lb_negative").click().run()
    assert "Nothing to label right now." in page_text(at)
    assert at.get("progress")[0].proto.text == "2 labeled this session, 0 left in the queue"
    assert "Labels by you (analyst): 2 · by everyone: 2 · skipped: 1" in page_text(at)
    assert {m.decode() for m in redis_db.smembers(LABELED_KEY)} == {"a-neg-0", "q-unsure"}

    labels = consume_all(dash_settings, "labels", until=lambda got: len(got) >= 2, timeout_s=30)
    assert [(x["post_id"], x["label"], x["labeled_by"]) for x in labels] == [
        ("a-neg-0", "positive", "analyst"),
        ("q-unsure", "negative", "analyst"),
    ]
    assert labels[0]["model_label"] == "negative" and labels[0]["model_version"] == "test-model-1"


def test_watches_create_edit_disable(dash_settings, redis_db) -> None:
    seed(dash_settings, redis_db)
    at = app_test("watches")
    assert list(at.table[0].value.index) == ["acme-air", "zentro"]
    at.text_input(key="wf_id_new").set_value("northbank")
    at.text_input(key="wf_name_new").set_value("Northbank")
    at.text_input(key="wf_q_new").set_value("Northbank OR (")  # broken query
    at.button[-1].click().run()  # form submit
    assert any("Not saved" in str(e.value) for e in at.error)
    at.text_input(key="wf_q_new").set_value("Northbank OR #northbank")
    at.number_input(key="wf_t_z_threshold_new").set_value(4.5)
    at.button[-1].click().run()
    saved = WatchStore(redis_db).get("northbank")
    assert saved is not None and saved.query == "Northbank OR #northbank"
    assert saved.detector == {"z_threshold": 4.5} and saved.languages == ["en"]
    assert "Saved watch northbank." in page_text(at)

    at.selectbox(key="wt_pick").set_value("zentro").run()
    at.button(key="wt_toggle_zentro").click().run()
    assert WatchStore(redis_db).get("zentro").enabled is False  # type: ignore[union-attr]
    at.text_input(key="wf_q_zentro").set_value('zentro NOT "zentro arena"')
    at.button[-1].click().run()
    edited = WatchStore(redis_db).get("zentro")
    assert edited is not None and edited.query == 'zentro NOT "zentro arena"'
    assert edited.enabled is False


def test_model_page_bundled_then_registry(dash_settings, tmp_path) -> None:
    at = app_test("model")
    text = page_text(at)
    assert "Version in use en-minilm-registry-2" in text
    assert "Last retrain never" in text and "bundled model" in text
    assert "macro f1" in text

    registry = ModelRegistry(dash_settings.registry_dir)
    for i, f1 in ((1, 0.71), (2, 0.78)):
        src = tmp_path / f"v{i}"
        src.mkdir()
        ModelCard(
            version=f"retrain-{i}",
            metrics={"eval": {"accuracy": 0.7 + i / 100, "macro_f1": f1}},
            created_at=f"2026-11-2{i}T03:00:00+00:00",
        ).save(src)
        registry.publish(src, f"retrain-{i}")
    registry.set_current("retrain-2")
    import streamlit as st

    st.cache_data.clear()
    at = app_test("model")
    text = page_text(at)
    assert "Version in use retrain-2" in text and "Last retrain 2026-11-22 03:00:00" in text
    history = at.table[-1].value
    assert list(history.index) == ["retrain-2 (current)", "retrain-1"]
    assert history.loc["retrain-1", "macro f1"] == 0.71


def test_overview_latest_data_anchor_shows_replayed_history(dash_settings, redis_db) -> None:
    WatchStore(redis_db).put(Watch(id="acme-air", name="Acme Air", query="acme"))
    old = [post(f"old-{i}", "negative", at=minutes_ago(3 * 24 * 60 + i)) for i in range(3)]
    AggregateStore(redis_db, dash_settings).record_batch(old)
    at = app_test("overview")
    assert at.table[0].value.loc["acme-air", "Posts (range)"] == 0  # 24 h ending now
    at.selectbox(key="ov_anchor").set_value("latest data").run()
    assert at.table[0].value.loc["acme-air", "Posts (range)"] == 3


def test_unreachable_redis_is_a_message(dash_settings, monkeypatch) -> None:
    monkeypatch.setenv("OPINION_REDIS_URL", "redis://127.0.0.1:1/0")
    at = app_test("overview")
    assert "Redis is unreachable" in page_text(at)
