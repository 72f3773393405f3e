"""The run report: ``<data dir>/reports/<run id>.json`` and ``.md``, written every run that
trained a candidate (promoted, rejected or dry run)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.model.metrics import Metrics
from training.files import write_atomic

SETS = ("analysts", "base", "overall", "trusted")


def metrics_summary(metrics: dict[str, Metrics]) -> dict[str, Any]:
    return {name: m.to_dict() for name, m in metrics.items()}


@dataclass
class FinetuneSummary:
    """How the candidate was trained."""

    steps: int
    best_step: int
    seconds: float
    device: str
    history: list[dict[str, Any]]
    config: dict[str, Any]


@dataclass
class OutcomeSummary:
    """How the run ended (``run.Outcome`` without the report path) and whether the workers
    were told."""

    status: str
    message: str
    version: str | None = None
    announced: bool | None = None


@dataclass
class RunReport:
    """One run's report; ``to_dict`` is the JSON file, ``markdown`` renders it.

    The nested sections come as their producers' own summaries (labels: ``vetting``,
    datasets: ``datasets.Datasets.summary``, gate: ``gate.Decision.to_dict``, automatic
    promotion: ``holds.Hold.to_dict``)."""

    run_id: str
    started_at: str
    current_version: str
    current_path: str
    candidate_version: str
    dry_run: bool
    forced: bool
    accept_unsigned: bool
    labels: dict[str, Any]
    datasets: dict[str, Any]
    training: FinetuneSummary
    evaluation: dict[str, Any]
    gate: dict[str, Any]
    auto_promotion: dict[str, Any]
    outcome: OutcomeSummary
    finished_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_report(reports_dir: Path, report: RunReport) -> Path:
    """Write both files; returns the JSON path."""
    as_dict = report.to_dict()
    json_path = reports_dir / f"{report.run_id}.json"
    write_atomic(json_path, json.dumps(as_dict, indent=2, default=str) + "\n")
    write_atomic(reports_dir / f"{report.run_id}.md", markdown(as_dict))
    return json_path


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _label_trust_lines(report: dict[str, Any], labels: dict[str, Any]) -> list[str]:
    """Which labels were dropped why, who labelled, and how much the analysts agree."""
    dropped = labels.get("dropped") or {}
    lines = [
        f"- usable labels: {labels.get('usable', '?')}; dropped: "
        + (", ".join(f"{k} {v}" for k, v in dropped.items() if v) or "none")
    ]
    if report.get("accept_unsigned") or labels.get("unsigned_accepted"):
        lines.append(
            f"- **--accept-unsigned**: {labels.get('unsigned_accepted', 0)} labels without a "
            "verified dashboard signature were trained on"
        )
    by_analyst = labels.get("by_analyst") or {}
    if by_analyst:
        lines.append(
            "- labels per analyst: " + ", ".join(f"{k} {v}" for k, v in by_analyst.items())
        )
    agreement = labels.get("agreement") or {}
    if agreement.get("posts"):
        lines.append(
            f"- agreement: {agreement['agreeing']} of {agreement['posts']} posts labelled by "
            f"several analysts got the same class ({agreement['share']:.0%})"
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    outcome = report.get("outcome", {})
    lines = [
        f"# Training run {report['run_id']}",
        "",
        f"**{outcome.get('status', '?').upper()}**: {outcome.get('message', '')}",
        "",
        f"- started {report.get('started_at')}, finished {report.get('finished_at')}",
        f"- current model: `{report.get('current_version')}`; candidate: "
        f"`{report.get('candidate_version')}`",
    ]
    labels = report.get("labels", {})
    if labels:
        lines.append(
            f"- labels: {labels.get('collected', 0)} collected this run, "
            f"{labels.get('stored', 0)} stored, {labels.get('posts', 0)} labelled posts "
            f"({labels.get('conflicting_posts', 0)} with conflicting labels, policy "
            f"`{labels.get('conflict_policy')}`)"
        )
        lines += _label_trust_lines(report, labels)
    auto = report.get("auto_promotion")
    if auto:
        lines.append(f"- automatic promotion: {auto.get('line')}")
    data = report.get("datasets", {})
    if data:
        lines.append(
            f"- training set {data['train']['n']} texts ({data['analysts_train_labels']} "
            f"analysts' labels), held out: {data['analysts_heldout']['n']} analysts' labels, "
            f"{data['base_heldout']['n']} base tweets"
        )
    training = report.get("training", {})
    if training:
        lines.append(
            f"- fine-tuning: {training.get('steps')} steps (best {training.get('best_step')}) in "
            f"{training.get('seconds')} s on {training.get('device')}"
        )
    evaluation = report.get("evaluation", {})
    if evaluation:
        lines += [
            "",
            "## Held-out evaluation (fused scores, as the workers produce them)",
            "",
            "| set | n | current macro-F1 | candidate macro-F1 | current acc. | candidate acc. |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        cur, cand = evaluation.get("current", {}), evaluation.get("candidate", {})
        for name in SETS:
            if name in cur and name in cand:
                lines.append(
                    f"| {name} | {cur[name]['n']} | {cur[name]['macro_f1']:.4f} | "
                    f"{cand[name]['macro_f1']:.4f} | {cur[name]['accuracy']:.4f} | "
                    f"{cand[name]['accuracy']:.4f} |"
                )
        lines += ["", "| set | class | support | current recall | candidate recall |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for name in SETS:
            if name in cur and name in cand:
                for label, row in cur[name]["per_class"].items():
                    lines.append(
                        f"| {name} | {label} | {row['support']} | {row['recall']:.4f} | "
                        f"{cand[name]['per_class'][label]['recall']:.4f} |"
                    )
    gate = report.get("gate", {})
    if gate:
        lines += ["", "## Gate", ""]
        for check in gate.get("checks", []):
            if not check["judged"]:
                lines.append(f"- {check['name']}: not judged ({check['threshold']})")
                continue
            mark = "ok" if check["passed"] else "**FAIL**"
            extra = ""
            if check.get("p_value") is not None:
                extra = (
                    f" [lost {check['lost']}, gained {check['gained']}, p={check['p_value']:.3g}]"
                )
            lines.append(
                f"- {check['name']}: {_fmt(check['current'])} -> {_fmt(check['candidate'])} "
                f"(needs {check['threshold']}){extra} {mark}"
            )
        rules = gate.get("rules", {})
        if rules:
            lines += ["", "Rules: " + ", ".join(f"{k}={v}" for k, v in rules.items())]
    return "\n".join(lines) + "\n"
