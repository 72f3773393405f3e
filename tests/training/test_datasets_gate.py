"""Held-out split stability, data set building, and the promotion gate's decisions."""

from __future__ import annotations

import pandas as pd

from training.datasets import analyst_splits, split_of
from training.gate import GateRules, Paired, decide, sign_test_p
from training.settings import TrainingSettings


def settings(**kw) -> TrainingSettings:  # type: ignore[no-untyped-def]
    return TrainingSettings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_split_is_a_fixed_function_of_the_post_id() -> None:
    ids = [f"post-{i}" for i in range(5000)]
    first = [split_of(i, 20, 10) for i in ids]
    assert first == [split_of(i, 20, 10) for i in reversed(ids)][::-1]
    share = first.count("heldout") / len(ids)
    assert 0.18 < share < 0.22 and 0.08 < first.count("val") / len(ids) < 0.12
    # Adding labels never moves old ones; a larger val share never takes from held-out.
    held = [i for i, s in zip(ids, first, strict=True) if s == "heldout"]
    assert all(split_of(i, 20, 15) == "heldout" for i in held)


def test_analyst_splits_route_filter_and_leak_guard() -> None:
    rows = [
        {
            "post_id": f"p{i}",
            "text": f"post number {i} is zorbly",
            "label": "negative",
            "lang": "en",
        }
        for i in range(200)
    ]
    rows.append({"post_id": "zh1", "text": "服务太差了", "label": "negative", "lang": "zh"})
    rows.append({"post_id": "e1", "text": "  ", "label": "neutral", "lang": "en"})
    # The same text under two ids: if one is held out, the other may not be trained on.
    held_id = next(f"x{i}" for i in range(100) if split_of(f"x{i}", 20, 10) == "heldout")
    train_id = next(f"y{i}" for i in range(100) if split_of(f"y{i}", 20, 10) == "train")
    for pid in (held_id, train_id):
        rows.append({"post_id": pid, "text": "Same repost text", "label": "positive", "lang": None})
    train, val, held, excluded = analyst_splits(pd.DataFrame(rows), settings())
    assert excluded == {"other_route": 1, "empty_text": 1, "leak": 1}
    assert "Same repost text" in held.texts and "Same repost text" not in train.texts
    assert len(train) + len(val) + len(held) == 201
    assert 25 < len(held) < 60


def base_set(pos_right: int, pos_also_gained: int = 0) -> Paired:
    """100 of each class; the current model gets 80 right per class. The candidate gets
    ``pos_right`` positives right (``pos_also_gained`` of them ones the current missed)."""
    gold = [0] * 100 + [1] * 100 + [2] * 100
    cur = [0] * 80 + [1] * 20 + [1] * 80 + [0] * 20 + [2] * 80 + [1] * 20
    pos = [2] * (pos_right - pos_also_gained) + [1] * (80 - pos_right + pos_also_gained)
    pos += [2] * pos_also_gained + [1] * (20 - pos_also_gained)
    cand = cur[:200] + pos
    return Paired(gold, cur, cand)


def analysts(cur_right: int, cand_right: int, n: int = 50) -> Paired:
    gold = [0] * n
    return Paired(
        gold, [0] * cur_right + [2] * (n - cur_right), [0] * cand_right + [2] * (n - cand_right)
    )


def test_sign_test() -> None:
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(5, 0) == 1 / 32
    assert abs(sign_test_p(12, 3) - 576 / 32768) < 1e-12
    assert sign_test_p(1, 9) > 0.99


def test_gate_promotes_a_clear_gain_with_no_class_worse() -> None:
    decision = decide({"base": base_set(78), "analysts": analysts(10, 45)}, GateRules())
    assert decision.promote, decision.reason()
    judged = {c.name for c in decision.checks if c.judged}
    assert "analysts recall[negative]" in judged
    assert "analysts recall[positive]" not in judged  # 0 examples: listed, not judged


def test_gate_rejects_a_significant_class_drop_beyond_tolerance() -> None:
    base = base_set(70)  # -0.10 positive recall: 10 lost, none gained (p ~ 0.001)
    decision = decide({"base": base, "analysts": analysts(10, 45)}, GateRules())
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["base recall[positive]"]
    assert "base recall[positive]: 0.8000 -> 0.7000" in decision.reason()
    assert "lost 10, gained 0" in decision.reason()


def test_gate_forgives_a_drop_that_could_be_chance_unless_alpha_is_1() -> None:
    # -0.06 net, but made of 12 lost and 6 gained examples: p ~ 0.12.
    base = base_set(74, pos_also_gained=6)
    sets = {"base": base, "analysts": analysts(10, 45)}
    check = next(c for c in decide(sets, GateRules()).checks if c.name == "base recall[positive]")
    assert (check.lost, check.gained) == (12, 6) and check.p_value > 0.05 and check.passed
    strict = decide(sets, GateRules(alpha=1.0))
    assert [c.name for c in strict.failed] == ["base recall[positive]"]


def test_gate_rejects_a_gain_below_the_margin() -> None:
    sets = {"base": base_set(80), "analysts": analysts(40, 40)}
    decision = decide(sets, GateRules())
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["analysts macro-F1 gain"]
    assert decide(sets, GateRules(min_gain=0.0)).promote  # "as good" passes a zero margin


def test_gate_rejects_random_relabelling_that_trades_one_class_for_others() -> None:
    """Poisoned (random) labels: predicting a mix raises macro-F1 over three present classes
    while the class the analysts really meant loses recall."""
    gold = [0] * 60 + [0] * 20 + [1] * 20 + [2] * 20
    poisoned = Paired(gold, [0] * 120, [0, 1, 2] * 40)
    assert poisoned.metrics("candidate").macro_f1 > poisoned.metrics("current").macro_f1 + 0.01
    decision = decide({"base": base_set(80), "analysts": poisoned}, GateRules())
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["analysts recall[negative]"]
