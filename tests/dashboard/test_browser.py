"""The dashboard in a real browser: embedded stack, a real worker, a replayed incident, the
real ``opinion dashboard`` server and headless Debian Chromium driven by Playwright.

Screenshots of every page go to ``test-artifacts/dashboard/`` (git-ignored). Skipped, with
the reason, only when no Chromium binary can be found (``make browser`` installs it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard.accounts import AccountStore
from dashboard.data import LABELED_KEY
from dashboard.views.alerts import widget_key
from devkit.browser import CHROMIUM_ARGS, chromium_path, dashboard_command, serve
from devkit.feed.generate import generate
from devkit.feed.replay import replay
from devkit.feed.scenario import DEFAULT_WATCHES_FILE, load_scenario
from devkit.stack.processes import free_port
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.schemas import Alert
from pipeline.watches.store import WatchStore, load_watch_file
from tests.dashboard.helpers import post
from tests.harness import ROOT, WorkerProcess, consume_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
WINDOW = (timedelta(hours=2, minutes=40), timedelta(hours=3, minutes=30))
"""The slice of test-small-v1 replayed (~1k messages): 20 calm minutes, then the first half
hour of the acme-air incident."""
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("chromium not found: install Debian's `chromium` (make browser)")
    return path


@contextmanager
def dashboard_server(settings: Settings, log: Path, **env: str) -> Iterator[str]:
    """``opinion dashboard --port N`` as a subprocess; yields its base URL."""
    port = free_port()
    with serve(dashboard_command(port), settings, port, log, **env) as dashboard:
        yield dashboard.url


@contextmanager
def browser(chromium: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh headless Chromium page (own user-data dir)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1500},
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


def open_page(page, base: str, path: str, title: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{base}/{path}")
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # let charts finish drawing
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def replay_incident(settings: Settings) -> tuple[int, datetime, datetime]:
    """Replay the window ending now; returns (valid posts sent, incident start, end)."""
    scenario = load_scenario("test-small-v1")
    incident = scenario.incidents[0]
    now = datetime.now(UTC)
    shift = timedelta(seconds=math.floor((now - scenario.start - WINDOW[1]).total_seconds()))
    lo, hi = scenario.start + shift + WINDOW[0], scenario.start + shift + WINDOW[1]
    messages = [m for m in generate(scenario, shift=shift) if lo <= m.at < hi]
    summary = replay(messages, settings, progress=False)
    assert summary.failed == 0 and summary.acked == len(messages)
    start = scenario.start + shift + timedelta(seconds=incident.start)
    valid = sum(m.expected.kind == "valid" for m in messages)
    return valid, start, min(hi, start + timedelta(seconds=incident.duration))


def wait_counted(settings: Settings, store: AggregateStore, expected: int) -> int:
    """Poll the overall volume until at least 90 % of ``expected`` and stable."""
    since, until = datetime.now(UTC) - timedelta(hours=5), datetime.now(UTC) + timedelta(hours=1)
    deadline, last, volume = time.monotonic() + 240, -1, 0
    while time.monotonic() < deadline:
        volume = store.totals(None, since, until)["volume"]
        if volume >= 0.9 * expected and volume == last:
            return volume
        last = volume
        time.sleep(2)
    raise TimeoutError(f"only {volume} of ~{expected} posts counted")


def incident_alert(settings: Settings, store: AggregateStore, start: datetime, end: datetime):
    """The acme-air alert the live detector raised, else one made through the alert store."""
    alerts = AlertStore(store.redis, settings)
    found = [a for a in alerts.list(watch_id="acme-air") if a.state == "firing"]
    if found:
        return found[0], "detector"
    now = store.totals("acme-air", start, end)
    before = store.totals("acme-air", start - timedelta(minutes=30), start)
    samples = [
        p.model_dump(mode="json") for p in store.recent_posts("acme-air", 3, label="negative")
    ]
    alert = Alert(
        id=f"acme-air-{int(start.timestamp())}",
        watch_id="acme-air",
        watch_name="Acme Air",
        severity="high",
        score=0.9,
        window_start=start,
        window_end=start + timedelta(minutes=5),
        negative_share=now["negative_share"],
        baseline_share=before["negative_share"],
        volume=now["volume"],
        top_terms=[t for t, _ in store.top_terms("acme-air", start, end, 8)],
        sample_posts=samples,
    )
    assert alerts.open(alert)
    return alert, "alert store (detector not wired into the worker)"


def table_row(page, first_cell: str) -> list[str]:  # type: ignore[no-untyped-def]
    row = page.locator("table tr").filter(has_text=first_cell).first
    return [c.strip() for c in row.locator("th, td").all_inner_texts()]


def test_dashboard_end_to_end(chromium, fresh_topics, redis_db, tmp_path) -> None:
    from playwright.sync_api import expect

    settings = fresh_topics.model_copy(update={"model_registry_dir": tmp_path / "models"})
    WatchStore(redis_db).seed(load_watch_file(DEFAULT_WATCHES_FILE))
    # The worker's Faust datadir is <state_dir>/faust/<port>; Faust creates only the leaf.
    (Path(settings.state_dir) / "faust").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    worker = WorkerProcess(settings, "dash-worker")
    try:
        worker.wait_ready()
        t1 = time.monotonic()
        valid, inc_start, inc_end = replay_incident(settings)
        store = AggregateStore(redis_db, settings)
        counted = wait_counted(settings, store, valid)
    finally:
        worker.stop()
    t2 = time.monotonic()
    alert, alert_origin = incident_alert(settings, store, inc_start, inc_end)
    print(
        f"worker up {t1 - t0:.0f}s, replay+scoring {t2 - t1:.0f}s; {counted} of {valid} valid "
        f"posts counted; alert {alert.id} from {alert_origin}"
    )

    log = Path(settings.state_dir) / "dashboard-e2e.log"
    with dashboard_server(settings, log) as base, browser(chromium, tmp_path) as page:
        # Overview: the replayed watches have data, the incident watch is the most negative.
        open_page(page, base, "", "Overview")
        expect(page.get_by_text("Watches by current negativity")).to_be_visible()
        expect(page.locator("table tr").filter(has_text="acme-air").first).to_be_visible()
        acme, zentro = table_row(page, "acme-air"), table_row(page, "zentro")
        # cells: watch, name, posts (last hour), negative (last hour), posts (range), ...
        assert int(acme[2]) > 100 and int(zentro[2]) > 50, (acme, zentro)
        assert int(acme[4]) >= int(acme[2]) and int(acme[6]) >= 1
        assert int(acme[3].rstrip("%")) > int(zentro[3].rstrip("%")) + 20, (acme, zentro)
        expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(2)
        shot(page, "overview")
        # Live refresh: the fragment reruns by itself (every 10 s by default), no reload.
        stamp = page.get_by_text(" · updated ")
        before = stamp.inner_text()
        expect(stamp).not_to_have_text(before, timeout=30_000)

        # Alerts: the incident's alert is listed with its context and can be acknowledged.
        open_page(page, base, "alerts", "Alerts")
        card = page.locator(".st-key-" + widget_key("alert", alert.id))
        heading = f"{alert.watch_name} · {alert.severity} · "
        expect(card).to_contain_text(heading + "Open")
        if alert.top_terms:
            expect(card.get_by_text("Top terms:")).to_be_visible()
        shot(page, "alerts")
        card.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_text(f"Alert {alert.id} acknowledged.")).to_be_visible()
        expect(card).to_contain_text(heading + "Acknowledged")
        acked = AlertStore(redis_db, settings).get(alert.id)
        assert acked is not None and acked.state == "acknowledged"
        assert acked.acknowledged_by == "analyst"
        shot(page, "alerts-acknowledged")

        # Drill-down: posts with highlighted explanation terms and probabilities.
        open_page(page, base, "drilldown", "Drill-down")
        expect(page.locator("div.post").first).to_be_visible()
        assert page.locator("div.post").count() == 50
        assert page.locator("div.post mark.term").count() > 0
        expect(page.locator("div.post").first).to_contain_text("neg 0.")
        shot(page, "drilldown")

        # Labeling: the keyboard shortcut labels the first post; it arrives on the topic.
        open_page(page, base, "labeling", "Labeling")
        item = page.locator("div.label-item")
        expect(item).to_be_visible()
        post_id = item.get_attribute("data-post-id")
        shot(page, "labeling")
        page.get_by_role("heading", name="Labeling").click()  # focus the page, not an input
        page.keyboard.press("1")  # = "Negative (1)"
        expect(page.get_by_text("Labeled negative")).to_be_visible()
        expect(item).not_to_have_attribute("data-post-id", post_id or "")
        labels = consume_all(
            settings, "labels", until=lambda got: any(x["post_id"] == post_id for x in got),
            timeout_s=30,
        )  # fmt: skip
        (label,) = [x for x in labels if x["post_id"] == post_id]
        assert label["label"] == "negative" and label["labeled_by"] == "analyst"
        assert label["labeled_at"] and label["text"]
        shot(page, "labeling-after")

        open_page(page, base, "watches", "Watches")
        expect(page.locator("table tr").filter(has_text="city-marathon").first).to_be_visible()
        shot(page, "watches")
        open_page(page, base, "model", "Model")
        expect(page.get_by_text("Version in use")).to_be_visible()
        expect(page.get_by_text("en-minilm-registry-2").first).to_be_visible()
        shot(page, "model")


def test_sign_in_roles_and_lockout(chromium, stack_settings, redis_db, tmp_path) -> None:
    """Accounts make even a loopback server ask for a sign-in, also on a first request for
    /alerts; a viewer sees but cannot act; failed sign-ins lock out across new sessions."""
    from playwright.sync_api import expect

    settings = stack_settings.model_copy(update={"model_registry_dir": tmp_path / "models"})
    AlertStore(redis_db, settings).open(
        Alert(
            id="secret-alert", watch_id="acme-air", watch_name="Acme Air", severity="low",
            score=0.5, window_start=datetime.now(UTC), window_end=datetime.now(UTC),
            negative_share=0.5, baseline_share=0.2, volume=10,
        )
    )  # fmt: skip
    unsure = {"negative": 0.4, "neutral": 0.35, "positive": 0.25}
    AggregateStore(redis_db, settings).record_batch([post("q-1", probabilities=unsure)])
    accounts = AccountStore(redis_db)
    accounts.add("vera", "viewer", "pw-vera")
    accounts.add("root", "admin", "pw-root")
    log = Path(settings.state_dir) / "dashboard-login.log"

    def sign_in(name: str, password: str) -> None:
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()

    with dashboard_server(settings, log) as base, browser(chromium, tmp_path) as page:
        page.goto(f"{base}/alerts")
        expect(page.get_by_text("Sign in to continue.")).to_be_visible()
        assert page.get_by_text("secret-alert").count() == 0
        shot(page, "login")
        sign_in("vera", "pw-vera")
        expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
        expect(page.get_by_text("secret-alert")).to_be_visible()
        expect(page.get_by_text("Signed in as")).to_contain_text("vera (viewer)")
        expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_be_disabled()
        expect(page.get_by_role("button", name="Resolve", exact=True)).to_be_disabled()
        page.get_by_role("link", name="Labeling").click()
        expect(page.get_by_role("heading", name="Labeling", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Negative (1)")).to_be_disabled()
        expect(page.get_by_text("Your role (viewer) may not label posts")).to_be_visible()
        page.keyboard.press("1")
        page.wait_for_timeout(500)
        assert page.get_by_text("Labeled negative").count() == 0
        assert not redis_db.smembers(LABELED_KEY)
        shot(page, "labeling-viewer")
        page.get_by_role("link", name="Watches").click()
        expect(page.get_by_role("button", name="Save watch")).to_be_disabled()
        page.get_by_role("button", name="Sign out").click()

        # Five wrong passwords, each from a new session (a reload is a new Streamlit
        # session): the sixth session is refused, even with the right password.
        for _ in range(5):
            page.goto(base)
            sign_in("root", "guess")
            expect(page.get_by_text("Unknown user or wrong password.")).to_be_visible()
        page.goto(base)
        sign_in("root", "pw-root")
        expect(page.get_by_text("Too many failed sign-ins")).to_be_visible()
        shot(page, "login-locked")
