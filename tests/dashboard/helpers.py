"""Hand-made data for the dashboard tests: scored posts, watches and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from pipeline.schemas import Alert, ScoredPost

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PROBS = {
    "negative": {"negative": 0.86, "neutral": 0.09, "positive": 0.05},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.04, "neutral": 0.1, "positive": 0.86},
}


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=n)


def post(
    post_id: str,
    label: str = "negative",
    *,
    watch: str = "acme-air",
    at: datetime | None = None,
    text: str | None = None,
    source: str = "social",
    lang: str = "en",
    probabilities: dict[str, float] | None = None,
    lexicon_score: float | None = None,
    explanation: list[str] | None = None,
) -> ScoredPost:
    """A scored post; negative ones explain themselves with 'delayed' and 'awful'."""
    probs = probabilities or PROBS[label]
    default_text = {
        "negative": "Flight delayed again, awful service from Acme Air",
        "neutral": "Acme Air publishes its winter timetable",
        "positive": "Lovely crew on my Acme Air flight today",
    }[label]
    return ScoredPost(
        id=post_id,
        source=source,  # type: ignore[arg-type]
        created_at=at or minutes_ago(10),
        lang=lang,
        text=text or default_text,
        watch_ids=[watch] if watch else [],
        label=label,  # type: ignore[arg-type]
        probabilities=probs,  # type: ignore[arg-type]
        negativity=probs["negative"],
        model_version="test-model-1",
        explanation=explanation
        if explanation is not None
        else {"negative": ["delayed", "awful"], "positive": ["lovely"], "neutral": []}[label],
        lexicon_score=lexicon_score,
    )


def alert(
    alert_id: str = "acme-air-1",
    *,
    watch: str = "acme-air",
    state: str = "firing",
    severity: str = "high",
    samples: list[dict[str, Any]] | None = None,
    start: datetime | None = None,
) -> Alert:
    start = start or minutes_ago(40)
    return Alert(
        id=alert_id,
        watch_id=watch,
        watch_name=watch.replace("-", " ").title(),
        state=state,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        score=0.9,
        window_start=start,
        window_end=start + timedelta(minutes=5),
        negative_share=0.8,
        baseline_share=0.28,
        volume=120,
        top_terms=["delayed", "tarmac", "gate"],
        sample_posts=samples if samples is not None else [],
    )


def app_test(page: str | None = None) -> AppTest:
    """The real entry point (auth + navigation), switched to ``views/<page>.py`` and run."""
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_text(at: AppTest) -> str:
    """Every markdown, caption, title, metric, table and alert text on the page, joined."""
    parts: list[str] = []
    for kind in (
        "markdown",
        "caption",
        "title",
        "subheader",
        "header",
        "info",
        "success",
        "error",
        "warning",
    ):
        parts += [str(el.value) for el in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [t.value.to_string() for t in at.table]
    return "\n".join(parts)


def bind(address: str | None) -> None:
    """Make the in-process app see itself bound to ``address`` (``None``: every interface)."""
    st_config.set_option("server.address", address)


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    """Fill and submit the login form of ``at`` (then run)."""
    at.text_input(key="login_name").set_value(name)
    at.text_input(key="login_password").set_value(password)
    return at.button[0].click().run()
