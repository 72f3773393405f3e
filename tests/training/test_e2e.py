"""End to end on the embedded stack: labels on Kafka -> `opinion train` -> registry ->
announcement -> a running worker hot-swaps; poisoned labels are rejected; rollback.

The analysts use a made-up word ("zorbly") as clearly negative; the bundled model calls
such posts neutral or positive. A few dozen fine-tuning steps on CPU teach it the word.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.model.registry import ModelRegistry
from pipeline.schemas import Post
from tests.harness import ROOT, WorkerProcess, consume_all, produce
from tests.training.helpers import PROBES, SIGNING_KEY, anchor_labels, pattern_labels, signed
from training.settings import with_training

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUNDLED_VERSION = "en-minilm-registry-2"


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPINION_")}
    return {**env, **settings.to_env(), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}


def _opinion(settings: Settings, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _publish_labels(settings: Settings, labels) -> None:  # type: ignore[no-untyped-def]
    """As the dashboard publishes them: signed (the poisoner here is a signed-in analyst)."""
    labels = signed(labels)
    sent = produce(settings, (("labels", lb.post_id.encode(), lb.to_bytes()) for lb in labels))
    assert sent == len(labels)


class Prober:
    """Sends the probe posts through the running worker and reads back their scores."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.round = 0

    def score(self) -> list[dict]:
        self.round += 1
        # Hours apart in event time and unique ids: never taken for reposts/re-deliveries.
        at = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=2 * self.round)
        ids = [f"probe-{self.round}-{i}-{uuid.uuid4().hex[:6]}" for i in range(len(PROBES))]
        posts = [
            Post(id=pid, source="social", created_at=at, text=text, lang="en")
            for pid, text in zip(ids, PROBES, strict=True)
        ]
        produce(self.settings, (("social", p.id.encode(), p.to_bytes()) for p in posts))
        wanted = set(ids)
        seen = consume_all(
            self.settings,
            "scored",
            until=lambda msgs: wanted <= {m["id"] for m in msgs},
            timeout_s=120,
        )
        by_id = {m["id"]: m for m in seen if m["id"] in wanted}
        assert set(by_id) == wanted, f"scored {len(by_id)} of {len(wanted)} probes"
        return [by_id[pid] for pid in ids]

    def until_version(self, version: str, timeout_s: float = 120) -> list[dict]:
        """Probe until every probe is scored by ``version`` (the swap is asynchronous)."""
        deadline = time.monotonic() + timeout_s
        while True:
            scored = self.score()
            if all(s["model_version"] == version for s in scored):
                return scored
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker still on {[s['model_version'] for s in scored]}, not {version}"
                )
            time.sleep(2)


def _summary(scored: list[dict]) -> list[tuple[str, float]]:
    return [(s["label"], s["probabilities"]["negative"]) for s in scored]


def test_retrain_promote_hot_swap_reject_poison_and_rollback(
    fresh_topics: Settings, tmp_path: Path
) -> None:
    settings = with_training(
        fresh_topics,
        **{
            "label_signing_key": SIGNING_KEY,
            "model_registry_dir": tmp_path / "models",
            "training_data_dir": tmp_path / "training",
            "training_consumer_group": f"trainer-{uuid.uuid4().hex[:6]}",
            # Tiny but real: a few dozen steps, short texts, small base sets.
            "training_base_train_size": 1000,
            "training_base_heldout_size": 500,
            "training_base_val_size": 150,
            "training_label_repeat": 1,
            "training_max_len": 32,
            "training_eval_every": 20,
            "training_lr": 1.5e-5,
            "training_warmup_ratio": 0.2,
            # With 1,000 base tweets the negative-heavy labels consistently flip 4 borderline
            # base positives (p(pos) 0.47-0.58) of 92: a 0.043 recall loss, one tweet short
            # of the default 0.05. A wider tolerance keeps this test off that edge; the poison
            # run below still fails the gate on two checks by a wide margin.
            "training_class_tolerance": 0.08,
        },
    )
    registry = ModelRegistry(settings.registry_dir)
    worker = WorkerProcess(settings, name="train-e2e", model_poll_s=600.0, dedup_window_s=1)
    try:
        worker.wait_ready()
        prober = Prober(settings)
        before = prober.score()
        assert {s["model_version"] for s in before} == {BUNDLED_VERSION}
        assert all(s["label"] != "negative" for s in before), _summary(before)

        # 1. A few hundred labels that contradict the live model on the pattern.
        _publish_labels(
            settings,
            pattern_labels(300, prefix="good") + anchor_labels(50, prefix="anchor"),
        )
        env = _env(settings)
        first = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "train", "--max-steps", "40"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # 2. A second run while the first holds the lock: exits 0 at once, saying so.
        lock = settings.training_dir / "train.lock"
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        second = _opinion(settings, "train", "--max-steps", "5", timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"a training run is already in progress (pid {first.pid})" in second.stdout

        out, _ = first.communicate(timeout=1200)
        assert first.returncode == 0, out
        assert "promoted" in out, out
        version = registry.current_version()
        assert version is not None and version.startswith("en-"), out
        assert registry.previous() == BUNDLED_VERSION  # the bundled default, for rollback
        card = json.loads((registry.path(version) / "model_card.json").read_text())
        assert card["version"] == version and card["parent_version"] == BUNDLED_VERSION
        assert (registry.path(version) / "metrics.json").is_file()
        reports = sorted((settings.training_dir / "reports").glob("*.json"))
        report = json.loads(reports[-1].read_text())
        assert report["outcome"]["status"] == "promoted" and report["gate"]["promote"]

        # Announced on the model-updates topic...
        updates = consume_all(
            settings,
            "model_updates",
            until=lambda msgs: any(m["version"] == version for m in msgs),
            timeout_s=30,
        )
        assert any(m["version"] == version and m["action"] == "promote" for m in updates)
        # ...and picked up by the running worker, which now scores the pattern negative.
        after = prober.until_version(version)
        negatives = sum(s["label"] == "negative" for s in after)
        assert negatives >= len(PROBES) - 1, _summary(after)
        assert all(
            a["probabilities"]["negative"] > b["probabilities"]["negative"]
            for a, b in zip(after, before, strict=True)
        )
        print("before", _summary(before), "\nafter", version, _summary(after))

        # 3. Poisoned labels: another "analyst" relabels the same 300 posts at random (the
        # latest label wins). The gate rejects the candidate; the live model stays.
        _publish_labels(
            settings,
            pattern_labels(
                300,
                prefix="good",
                label=None,
                analyst="mallory",
                start=datetime(2026, 5, 2, tzinfo=UTC),
            ),
        )
        poisoned = _opinion(settings, "train", "--max-steps", "30")
        assert poisoned.returncode == 0, poisoned.stdout + poisoned.stderr
        assert "rejected by the gate" in poisoned.stdout, poisoned.stdout + poisoned.stderr
        assert registry.current_version() == version
        reports = sorted((settings.training_dir / "reports").glob("*.json"))
        report = json.loads(reports[-1].read_text())
        assert report["outcome"]["status"] == "rejected" and not report["gate"]["promote"]
        still = prober.score()
        assert {s["model_version"] for s in still} == {version}
        print("poison run:", poisoned.stdout.strip().splitlines()[-1])

        # 4. Nothing new since the last run: exit 0 with a message, no training.
        again = _opinion(settings, "train", timeout=300)
        assert again.returncode == 0 and "nothing new to learn" in again.stdout, again.stdout

        # 5. Rollback: the previous version (the bundled default) is live again.
        listed = json.loads(_opinion(settings, "model", "list", "--json").stdout)
        assert [row["version"] for row in listed] == [BUNDLED_VERSION, version]
        assert listed[1]["current"] and listed[0]["previous"]
        rolled = _opinion(settings, "model", "rollback", timeout=120)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert "automatic promotion by `opinion train` is held" in rolled.stdout
        assert registry.current_version() == BUNDLED_VERSION
        back = prober.until_version(BUNDLED_VERSION)
        assert all(s["label"] != "negative" for s in back), _summary(back)
        assert worker.metrics()["opinion_model_swaps_total"] >= 2
    finally:
        worker.stop()
