"""The multilingual encoder's graph made batch-invariant: a text's embedding is the same
alone or in any batch, whatever its batch-mates.

The published int8 export has two things that make a text's embedding move with the texts
sharing its call:
- each ``DynamicQuantizeLinear`` picks one activation scale for the whole call (so a long
  or unusual batch-mate coarsens everyone's int8 values): moved by up to 0.03;
- each sentence's word vectors are summed in float32 in an order that follows the batch's
  ``Unique``/``TopK`` results (1 ulp, which the next quantisation can turn into 1 step).

``batch_invariant`` replaces the first with ``QuantizeLinear`` at fixed, calibrated ranges
(``encoder_calibration.json``, written by ``python -m training.calibrate_encoder``) and runs
the second in float64 (exact for these sums, so in any order), cast back to float32. The
embeddings are then bit-identical alone and in batches of any size or order
(``tests/model/test_encoder_batches.py``), so the encoder can take whole batches: ~1.5x the
texts per CPU second of one text per call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_FILE = Path(__file__).with_name("encoder_calibration.json")
# Scorer batches are cut into encoder calls of at most this many texts (measured fastest of
# 8/16/32/64 texts per call, one thread).
ENCODER_CALL_SIZE = 32
_SEGMENT_SUM = "SegmentSum_ReduceSum"


class CalibrationMismatch(ValueError):
    """The calibration file does not describe this encoder graph."""


def load_ranges(path: Path = CALIBRATION_FILE) -> dict[str, tuple[float, float]]:
    """``{DynamicQuantizeLinear node name: (low, high)}`` from a calibration file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: (float(lo), float(hi)) for name, (lo, hi) in data["ranges"].items()}


def static_quantization(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """uint8 scale and zero point covering [low, high] (and 0), as DynamicQuantizeLinear
    computes them from a tensor's own min and max."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = np.float32((high - low) / 255.0) if high > low else np.float32(1.0)
    zero_point = np.uint8(np.clip(round(-low / float(scale)), 0, 255))
    return scale, zero_point


def batch_invariant(model: Any, ranges: dict[str, tuple[float, float]]) -> Any:
    """A copy of the encoder ``onnx.ModelProto`` whose output per text does not depend on
    the call's other texts (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph_model = onnx.ModelProto()
    graph_model.CopyFrom(model)
    graph = graph_model.graph
    dynamic = [n.name for n in graph.node if n.op_type == "DynamicQuantizeLinear"]
    if not dynamic or set(dynamic) != set(ranges):
        raise CalibrationMismatch(
            f"the encoder has {len(dynamic)} dynamic quantisations, the calibration "
            f"{len(ranges)} ranges for other nodes: rerun `python -m training.calibrate_encoder`"
        )
    if not any(n.op_type == "ReduceSum" and _SEGMENT_SUM in n.name for n in graph.node):
        raise CalibrationMismatch(f"the encoder has no {_SEGMENT_SUM} node: not the USE graph")
    nodes = []
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            scale, zero_point = static_quantization(*ranges[node.name])
            scale_name, zp_name = f"{node.name}/static_scale", f"{node.name}/static_zero_point"
            graph.initializer.append(numpy_helper.from_array(np.array(scale), scale_name))
            graph.initializer.append(numpy_helper.from_array(np.array(zero_point), zp_name))
            x, (quantized, scale_out, zp_out) = node.input[0], node.output
            nodes += [
                helper.make_node("QuantizeLinear", [x, scale_name, zp_name], [quantized]),
                helper.make_node("Identity", [scale_name], [scale_out]),
                helper.make_node("Identity", [zp_name], [zp_out]),
            ]
        elif node.op_type == "ReduceSum" and _SEGMENT_SUM in node.name:
            wide_in, wide_out = f"{node.input[0]}/f64", f"{node.output[0]}/f64"
            summed = onnx.NodeProto()
            summed.CopyFrom(node)
            summed.input[0], summed.output[0] = wide_in, wide_out
            nodes += [
                helper.make_node("Cast", [node.input[0]], [wide_in], to=TensorProto.DOUBLE),
                summed,
                helper.make_node("Cast", [wide_out], [node.output[0]], to=TensorProto.FLOAT),
            ]
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return graph_model
