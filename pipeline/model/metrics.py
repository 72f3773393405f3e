"""Classification metrics (accuracy, macro recall/F1, per-class report, confusion matrix).

Pure Python + numpy so that ``opinion eval`` and ``training`` share one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ClassReport:
    """Precision, recall, F1 and support of one class."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Metrics:
    """Summary metrics plus a per-class report and the confusion matrix (rows = gold)."""

    accuracy: float
    macro_recall: float
    macro_f1: float
    per_class: dict[str, ClassReport]
    confusion: list[list[int]]
    labels: list[str]
    n: int

    def to_dict(self) -> dict:
        out = asdict(self)
        out["per_class"] = {k: asdict(v) for k, v in self.per_class.items()}
        return out

    def format(self) -> str:
        """A human-readable report."""
        width = max(len(x) for x in self.labels) + 2
        lines = [
            f"n={self.n}  accuracy={self.accuracy:.4f}  macro_recall={self.macro_recall:.4f}  "
            f"macro_f1={self.macro_f1:.4f}",
            "",
            f"{'class':<{width}}precision  recall    f1        support",
        ]
        for name, r in self.per_class.items():
            lines.append(
                f"{name:<{width}}{r.precision:<11.4f}{r.recall:<10.4f}{r.f1:<10.4f}{r.support}"
            )
        lines += ["", "confusion (rows gold, cols predicted): " + " ".join(self.labels)]
        for name, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{name:<{width}}" + " ".join(f"{c:>7d}" for c in row))
        return "\n".join(lines)


def confusion_matrix(gold: Sequence[int], pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts of (gold, predicted) pairs as an ``n_classes`` x ``n_classes`` matrix."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return cm


def compute_metrics(gold: Sequence[int], pred: Sequence[int], labels: Sequence[str]) -> Metrics:
    """Metrics for integer class ids ``gold`` vs ``pred`` (ids index ``labels``)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    if not gold:
        raise ValueError("no examples")
    cm = confusion_matrix(gold, pred, len(labels))
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    per_class = {
        name: ClassReport(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, name in enumerate(labels)
    }
    return Metrics(
        accuracy=float(tp.sum() / cm.sum()),
        macro_recall=float(recall[present].mean()),
        macro_f1=float(f1[present].mean()),
        per_class=per_class,
        confusion=cm.tolist(),
        labels=list(labels),
        n=int(cm.sum()),
    )
