"""The promotion gate: candidate vs current model on the same held-out sets.

Held-out sets: ``base`` (base-corpus tweets the current model never trained on),
``analysts`` (the fixed hash-selected share of the analysts' labels), ``overall`` (both
together, reported) and, when ``OPINION_TRAINING_TRUSTED_LABELS`` names a file, ``trusted``
(labels kept out of Kafka, ``training.trusted``). The candidate is promoted only when

1. its macro-F1 on ``analysts`` is at least ``min_gain`` above the current model's, and
2. on ``base``, ``analysts`` and ``trusted``, no class loses more than ``class_tolerance`` of
   recall — unless the loss could be chance: a loss beyond the tolerance fails the gate when a
   one-sided sign test over that class's examples on which the two models disagree in
   correctness gives p < ``alpha`` (``alpha`` = 1 turns the test off). Classes with fewer
   than ``min_class_support`` held-out examples are listed, not judged.

Both models are scored the way the workers score (``RoutedScorer.predict``: route by
language, lexicon fusion), so the numbers are those of what would go live.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from pipeline.model.metrics import Metrics, compute_metrics
from pipeline.schemas import SENTIMENT_LABELS
from training.datasets import Split

GAIN_SET = "analysts"
CLASS_SETS = ("base", "analysts", "trusted")
LABELS = list(SENTIMENT_LABELS)


@dataclass(frozen=True)
class GateRules:
    min_gain: float = 0.01
    class_tolerance: float = 0.05
    min_class_support: int = 10
    alpha: float = 0.05

    @classmethod
    def from_settings(cls, settings) -> GateRules:  # type: ignore[no-untyped-def]
        return cls(
            min_gain=settings.training_min_gain,
            class_tolerance=settings.training_class_tolerance,
            min_class_support=settings.training_min_class_support,
            alpha=settings.training_gate_alpha,
        )


@dataclass
class Paired:
    """Gold label ids and both models' predictions on one held-out set."""

    gold: list[int]
    current: list[int]
    candidate: list[int]

    def metrics(self, which: str) -> Metrics:
        return compute_metrics(self.gold, getattr(self, which), LABELS)

    def changed(self, label: int) -> tuple[int, int]:
        """(lost, gained): examples of class ``label`` that only the current / only the
        candidate gets right."""
        lost = gained = 0
        for g, cur, cand in zip(self.gold, self.current, self.candidate, strict=True):
            if g != label or (cur == g) == (cand == g):
                continue
            if cur == g:
                lost += 1
            else:
                gained += 1
        return lost, gained


def sign_test_p(lost: int, gained: int) -> float:
    """One-sided exact sign test: P(at least ``lost`` of the ``lost + gained`` changed
    examples go the candidate's wrong way if either way were equally likely)."""
    n = lost + gained
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(lost, n + 1)) / 2**n


@dataclass
class Check:
    """One rule applied to one number."""

    name: str
    passed: bool
    current: float | None
    candidate: float | None
    threshold: str
    judged: bool = True
    lost: int | None = None
    gained: int | None = None
    p_value: float | None = None

    @property
    def line(self) -> str:
        if not self.judged:
            return f"- {self.name}: not judged ({self.threshold})"
        mark = "ok" if self.passed else "FAIL"
        extra = ""
        if self.p_value is not None:
            extra = f" [lost {self.lost}, gained {self.gained}, p={self.p_value:.3g}]"
        return (
            f"- {self.name}: {self.current:.4f} -> {self.candidate:.4f} "
            f"(needs {self.threshold}){extra} {mark}"
        )


@dataclass
class Decision:
    promote: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.judged and not c.passed]

    def reason(self) -> str:
        if self.promote:
            gain = self.checks[0]
            return (
                f"{GAIN_SET} held-out macro-F1 {gain.current:.4f} -> {gain.candidate:.4f}; "
                "no class significantly worse beyond the tolerance"
            )
        return "; ".join(c.line.removeprefix("- ").removesuffix(" FAIL") for c in self.failed)

    def to_dict(self) -> dict:
        return {"promote": self.promote, "checks": [asdict(c) for c in self.checks]}


def decide(sets: dict[str, Paired], rules: GateRules) -> Decision:
    """Apply the rules to both models' predictions on each held-out set."""
    checks: list[Check] = []
    cur = sets[GAIN_SET].metrics("current").macro_f1
    cand = sets[GAIN_SET].metrics("candidate").macro_f1
    checks.append(
        Check(
            f"{GAIN_SET} macro-F1 gain",
            cand - cur >= rules.min_gain - 1e-12,
            cur,
            cand,
            f">= {cur + rules.min_gain:.4f} (current + {rules.min_gain})",
        )
    )
    for set_name in (name for name in CLASS_SETS if name in sets):
        paired = sets[set_name]
        before, after = paired.metrics("current"), paired.metrics("candidate")
        for idx, label in enumerate(LABELS):
            b, a = before.per_class[label], after.per_class[label]
            name = f"{set_name} recall[{label}]"
            if b.support < rules.min_class_support:
                checks.append(
                    Check(
                        name,
                        True,
                        b.recall,
                        a.recall,
                        f"{b.support} examples < {rules.min_class_support}",
                        judged=False,
                    )
                )
                continue
            lost, gained = paired.changed(idx)
            p = sign_test_p(lost, gained)
            beyond = a.recall < b.recall - rules.class_tolerance - 1e-12
            checks.append(
                Check(
                    name,
                    not (beyond and p < rules.alpha),
                    b.recall,
                    a.recall,
                    f">= {b.recall - rules.class_tolerance:.4f} (current - "
                    f"{rules.class_tolerance}) or a loss with p >= {rules.alpha}",
                    lost=lost,
                    gained=gained,
                    p_value=p,
                )
            )
    return Decision(promote=all(c.passed for c in checks if c.judged), checks=checks)


def score_split(scorer, split: Split) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Predicted label ids for ``split`` as the workers would produce them."""
    if not split.texts:
        return np.zeros(0, dtype=np.int64)
    out: list[int] = []
    for start in range(0, len(split), 256):
        preds = scorer.predict(split.texts[start : start + 256], split.langs[start : start + 256])
        out += [SENTIMENT_LABELS.index(p.label) for p in preds]
    return np.asarray(out, dtype=np.int64)


def evaluate_pair(  # type: ignore[no-untyped-def]
    current, candidate, base: Split, analysts: Split, trusted: Split | None = None
) -> dict[str, Paired]:
    """Both models' predictions on ``base``, ``analysts``, ``overall`` (both together) and
    ``trusted`` when given."""
    sets = {
        "base": Paired(base.labels, *(score_split(m, base).tolist() for m in (current, candidate))),
        "analysts": Paired(
            analysts.labels, *(score_split(m, analysts).tolist() for m in (current, candidate))
        ),
    }
    sets["overall"] = Paired(
        sets["base"].gold + sets["analysts"].gold,
        sets["base"].current + sets["analysts"].current,
        sets["base"].candidate + sets["analysts"].candidate,
    )
    if trusted is not None and len(trusted):
        sets["trusted"] = Paired(
            trusted.labels, *(score_split(m, trusted).tolist() for m in (current, candidate))
        )
    return sets


def metrics_of(sets: dict[str, Paired], which: str) -> dict[str, Metrics]:
    """``which`` model's metrics on every non-empty set."""
    return {name: p.metrics(which) for name, p in sets.items() if p.gold}
