"""One real worker on a stack whose Redis requires a password (OPINION_REDIS_PASSWORD),
fed posts full of personal data. Checks: the worker works with the password and clients
without it are refused; a least-privilege Redis ACL user (``~opinion:*``, no dangerous
commands) is enough for every component; no secret appears in logs, process lists or
state files; no e-mail, phone number, handle or author name reaches Redis or the scored
topic (masked before storage)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
import redis

from devkit.stack import stack_down, stack_status, stack_up
from pipeline.aggregation.store import AggregateStore
from pipeline.alerting.deliveries import DeliveryStore
from pipeline.alerting.incidents import alerting_detector
from pipeline.alerting.store import AlertStore
from pipeline.config import Settings
from pipeline.redis_io import redis_client
from pipeline.watches.model import Watch
from pipeline.watches.store import WatchStore
from tests.aggregation.factories import scripted_feed
from tests.faults.helpers import WORKER_ENV
from tests.faults.tiny_model import build_tiny_checkpoint
from tests.harness import WorkerProcess, consume_all, produce, seed_watch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REDIS_SECRET = "rEd1s-Pa55-7f3c9a2e"
SALT_SECRET = "au7h0r-Sa1t-c41d8e"
SASL_SECRET = "ka7ka-Sa5l-0b9e11"
SMTP_SECRET = "smTp-Pa55-44aa90"
SECRETS = (REDIS_SECRET, SALT_SECRET, SASL_SECRET, SMTP_SECRET)
START = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
PII = {  # what the posts contain -> must not be stored anywhere
    "emails": ["jane.doe@example.com", "j.smith+news@mail.co.uk"],
    "phones": ["+1 (555) 123-4567", "020 7946 0958", "+44 20 7946 0958", "555-867-5309"],
    "handles": ["@janedoe_real", "@bob_the_builder99"],
    "authors": ["@victoria_author", "Victoria Q. Author"],
}
TEMPLATES = [
    "Acme lost my bag, mail me at {email} or call {phone}",
    "cc {handle} Acme support is useless, ring {phone}",
    "Great flight with @AcmeAir today! thanks {handle} ({email})",
]


@dataclass
class SecureRun:
    settings: Settings
    scored: list[dict]
    posts: int
    worker_log: str
    stack_dir: Path
    cmdlines: list[str]


def pii_posts(n: int) -> list[tuple[str, bytes, bytes]]:
    out = []
    for i in range(n):
        text = TEMPLATES[i % len(TEMPLATES)].format(
            email=PII["emails"][i % 2], phone=PII["phones"][i % 4], handle=PII["handles"][i % 2]
        )
        body = {
            "id": f"pii-{i}",
            "source": "social" if i % 3 else "news",
            "created_at": (START + timedelta(seconds=7 * i)).isoformat(),
            "text": f"{text} #{i}",
            "author": PII["authors"][i % 2],
            "lang": "en",
        }
        if body["source"] == "news":
            body["title"] = f"Reader {PII['emails'][0]} complains about Acme"
        out.append((body["source"], body["id"].encode(), json.dumps(body).encode()))
    return out


@pytest.fixture(scope="module")
def secure_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureRun]:
    state = tmp_path_factory.mktemp("secure-stack")
    model = build_tiny_checkpoint(tmp_path_factory.mktemp("secure-model"))
    base = Settings(
        _env_file=None,
        state_dir=state,
        kafka_bootstrap=None,
        redis_url=None,
        redis_password=REDIS_SECRET,
        author_hash_salt=SALT_SECRET,
        kafka_sasl_password=SASL_SECRET,  # unused with PLAINTEXT, but in the environment
        alert_smtp_password=SMTP_SECRET,
        model_dir=model,
    )
    up = stack_up(base)
    settings = base.model_copy(
        update={"kafka_bootstrap": up.kafka_bootstrap, "redis_url": up.redis_url}
    )
    try:
        seed_watch(settings)
        messages = pii_posts(30)
        # INFO (Faust's banner and more), where leaks would show
        worker = WorkerProcess(settings, name="secure", loglevel="info", env=WORKER_ENV)
        try:
            worker.wait_ready(180)
            assert produce(settings, messages) == len(messages)
            scored = consume_all(
                settings, "scored", until=lambda got: len(got) >= len(messages), timeout_s=120
            )
            time.sleep(2)  # the batch's aggregation lands right after its publish
            cmdlines = [" ".join(p.cmdline()) for p in _our_processes(worker.proc.pid, up)]
            status = json.dumps(stack_status(settings))
        finally:
            worker.stop()
        log = worker.log_path.read_text()
        yield SecureRun(settings, scored, len(messages), log + status, state, cmdlines)
    finally:
        stack_down(base)


def _our_processes(worker_pid: int, up) -> list[psutil.Process]:  # type: ignore[no-untyped-def]
    pids = [worker_pid, *(p.pid for p in up.processes.values())]
    return [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]


def test_worker_runs_with_redis_password_and_clients_without_it_are_refused(
    secure_run: SecureRun,
) -> None:
    assert len({s["id"] for s in secure_run.scored}) == secure_run.posts
    url = secure_run.settings.redis_url
    assert url is not None and REDIS_SECRET not in url
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(url).get("opinion:watches:version")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(url, password="wrong-password").ping()
    client = redis_client(secure_run.settings)
    store = AggregateStore(client, secure_run.settings)
    totals = store.totals(None, START - timedelta(hours=1), START + timedelta(hours=1))
    client.close()
    assert totals["volume"] == secure_run.posts


def test_no_secret_in_logs_process_lists_or_state_files(secure_run: SecureRun) -> None:
    texts = {"worker log": secure_run.worker_log, "process lists": "\n".join(secure_run.cmdlines)}
    for path in secure_run.stack_dir.rglob("*"):
        if path.is_file() and path.name != "redis.conf" and path.stat().st_size < 5_000_000:
            texts[str(path)] = path.read_text(errors="replace")
    leaks = [(where, s) for where, text in texts.items() for s in SECRETS if s in text]
    assert not leaks, leaks
    conf = secure_run.stack_dir / "redis" / "redis.conf"
    assert conf.stat().st_mode & 0o077 == 0, "redis.conf (holds the password) is not 0600"
    stack_file = secure_run.stack_dir / "stack.json"
    assert stack_file.stat().st_mode & 0o077 == 0, "stack.json is readable by others"


def test_personal_data_is_masked_before_storage(secure_run: SecureRun) -> None:
    needles = [v.casefold() for values in PII.values() for v in values]
    needles += ["janedoe_real", "bob_the_builder99", "victoria", "7946 0958", "123-4567"]
    client = redis_client(secure_run.settings)
    try:
        stored = dump_redis(client)
    finally:
        client.close()
    assert len(stored) > 10_000, "nothing stored: the check would be vacuous"
    found = [n for n in needles if n in stored.casefold()]
    assert not found, f"personal data stored in Redis: {found}"
    published = json.dumps(secure_run.scored).casefold()
    found = [n for n in needles if n in published]
    assert not found, f"personal data published on the scored topic: {found}"
    assert "[email]" in published and "[phone]" in published and "@user" in published
    assert all(s["author_hash"] and len(s["author_hash"]) == 20 for s in secure_run.scored)
    assert any("acme" in s["watch_ids"] for s in secure_run.scored), "watches must still match"


def dump_redis(client: redis.Redis) -> str:
    """Every key and value in the database as one text, whatever their types."""
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value: object = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = kind
        parts.append(f"{key!r} {value!r}")
    raw = "\n".join(parts)
    # values are JSON inside bytes reprs: undo the escaping of non-ASCII and quotes
    return raw.encode().decode("unicode_escape", errors="replace")


def test_least_privilege_acl_user_is_enough(secure_run: SecureRun) -> None:
    """An ACL user limited to ``opinion:*`` keys without dangerous commands can run the
    aggregation, detection, alert store and the alert outbox (OPINION_REDIS_URL
    with ``user:password@``)."""
    admin = redis_client(secure_run.settings)
    admin.acl_setuser(
        "opinion-app",
        enabled=True,
        passwords=["+app-test-pw-e2e"],
        keys=["opinion:*"],
        commands=["+@all", "-@dangerous", "-@admin"],
    )
    port = secure_run.settings.redis_url.rsplit(":", 1)[1]  # type: ignore[union-attr]
    settings = secure_run.settings.model_copy(
        update={"redis_url": f"redis://opinion-app:app-test-pw-e2e@127.0.0.1:{port}"}
    )
    client = redis_client(settings)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("not-ours", 1)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushdb()
        WatchStore(client).put(Watch(id="acl-watch", name="ACL", query="acl"))
        store = AggregateStore(client, settings)
        posts = list(scripted_feed("acl-watch", 90, per_minute=20, incidents=((70, 80),)))
        assert store.record_batch(posts) == len(posts)
        live = alerting_detector(settings, store, client)
        changes = live.evaluate(max(p.created_at for p in posts))
        alerts = [c.alert for c in changes]
        assert [a.state for a in alerts][:1] == ["firing"]
        assert AlertStore(client, settings).get(alerts[0].id) is not None
        deliveries = DeliveryStore(client, settings)  # the outbox's Lua script
        [claimed] = deliveries.claim("kafka", 30)
        assert deliveries.park(claimed, "down") and len(deliveries.parked()) == 1
    finally:
        client.close()
        admin.acl_deluser("opinion-app")
        admin.close()
