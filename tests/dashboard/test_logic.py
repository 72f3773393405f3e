"""Pure pieces of the dashboard: the labeling queue, term highlighting, chart specs."""

from __future__ import annotations

import pandas as pd

from dashboard.charts import trend_chart
from dashboard.highlight import highlight, probability_bar
from dashboard.labelqueue import (
    REASON_ALERT,
    REASON_DISAGREE,
    REASON_UNSURE,
    build_queue,
    disagrees,
)
from tests.dashboard.helpers import alert, minutes_ago, post

UNSURE = {"negative": 0.45, "neutral": 0.3, "positive": 0.25}


def test_queue_reasons_order_and_exclusions() -> None:
    posts = [
        post("sure", "negative"),
        post("unsure", "negative", probabilities=UNSURE),
        post(
            "very-unsure",
            "neutral",
            probabilities={"negative": 0.34, "neutral": 0.36, "positive": 0.3},
        ),
        post("disagree", "positive", lexicon_score=-0.6),
        post("done", "negative", probabilities=UNSURE),
    ]
    sample = {"id": "from-alert", "text": "Stuck on the tarmac", "label": "negative"}
    alerts = [
        alert(samples=[sample, {"id": "", "text": "no id"}]),
        alert("old", state="resolved", samples=[{"id": "old-1", "text": "x"}]),
    ]
    queue = build_queue(posts, alerts, exclude={"done"}, threshold=0.6)
    assert [i.post_id for i in queue] == ["from-alert", "disagree", "very-unsure", "unsure"]
    assert queue[0].reasons == [REASON_ALERT] and queue[0].watch_ids == ["acme-air"]
    assert queue[1].reasons == [REASON_DISAGREE]
    assert queue[2].reasons == [REASON_UNSURE]


def test_alert_sample_takes_scores_from_the_recorded_post() -> None:
    recorded = post("p1", "negative", probabilities=UNSURE)
    queue = build_queue(
        [recorded], [alert(samples=[{"id": "p1", "text": "t"}])], exclude=set(), threshold=0.6
    )
    (item,) = queue
    assert item.reasons == [REASON_ALERT, REASON_UNSURE]
    assert item.probabilities == UNSURE and item.model_version == "test-model-1"


def test_disagreement_needs_a_clear_lexicon_polarity() -> None:
    assert disagrees("positive", -0.5) and disagrees("negative", 0.5)
    assert not disagrees("positive", 0.5) and not disagrees("neutral", -0.9)
    assert not disagrees("positive", -0.01) and not disagrees("positive", None)


def test_highlight_escapes_and_marks_whole_words() -> None:
    out = highlight("<b>Delayed</b> & undelayed; awful!", ["delayed", "awful"], "negative")
    assert out.startswith("&lt;b&gt;<mark")
    assert ">Delayed</mark>&lt;/b&gt; &amp; undelayed;" in out
    assert ">awful</mark>!" in out and "<b>" not in out
    assert highlight("星澜手机太卡了", ["卡"]).count("<mark") == 1
    assert highlight("a <i>b</i>", []) == "a &lt;i&gt;b&lt;/i&gt;"
    assert highlight("x", ['"><script>']) == "x"


def test_probability_bar_shows_numbers() -> None:
    bar = probability_bar({"negative": 0.7, "neutral": 0.2, "positive": 0.1})
    assert "neg 0.70" in bar and "neu 0.20" in bar and "pos 0.10" in bar


def test_trend_chart_shades_alerts_only_when_there_are_some() -> None:
    series = pd.DataFrame(
        {"time": [minutes_ago(5)], "series": ["acme-air"], "volume": [3], "negative_share": [0.5]}
    )
    plain = trend_chart(series, "volume").to_dict()
    assert [layer["mark"]["type"] for layer in plain["layer"]] == ["line", "point"]
    assert "tooltip" in plain["layer"][1]["encoding"]  # the points answer, per bucket
    assert "tooltip" not in plain["layer"][0]["encoding"]  # a line would name its first
    periods = pd.DataFrame(
        [
            {
                "start": minutes_ago(9),
                "end": minutes_ago(1),
                "watch": "acme-air",
                "severity": "high",
                "state": "firing",
            }
        ]
    )
    layered = trend_chart(series, "negative_share", periods).to_dict()
    rect, lines = layered["layer"]
    assert rect["mark"]["type"] == "rect"
    assert [layer["mark"]["type"] for layer in lines["layer"]] == ["line", "point"]
