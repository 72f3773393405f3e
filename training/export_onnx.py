"""Export a sequence-classification checkpoint to ONNX for the CPU scorer (``OnnxClassifier``).

    python -m training.export_onnx pipeline/model/bundled/en            # model.int8.onnx
    python -m training.export_onnx CKPT --precision both --out /tmp/onnx

Steps: ``torch.onnx.export`` (TorchScript exporter, eager attention so that ONNX Runtime's
fusions recognise it; dynamic batch and sequence axes; inputs ``input_ids`` and
``attention_mask``, output ``logits``); ONNX Runtime's transformer optimizer (``bert``:
fused attention, embedding + LayerNorm, skip-LayerNorm, bias-GELU); for int8, dynamic
quantisation of the weights (``quantize_dynamic``, signed int8, per output channel unless
``--per-tensor``: per tensor lost 0.6 points of TweetEval macro-recall on the default model,
per channel 0.1). Each file records the checkpoint's weights digest and its precision in
its metadata, and is checked against the torch model on a few texts before it is kept.
Build-time only: needs torch and the ``onnx`` package; the scorer needs only onnxruntime.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.model.onnx_runtime import (
    META_PRECISION,
    META_SOURCE,
    META_WEIGHTS,
    ONNX_FILES,
    OnnxClassifier,
    Precision,
    weights_digest,
)

OPSET = 17
# bert-like encoders the "bert" optimizer recognises; anything else is exported unfused.
BERT_LIKE = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "distilbert"}
CHECK_TEXTS = (
    "I love this so much!!",
    "worst service ever, never again @user",
    "ok",
    "The meeting moved to 5pm tomorrow in the main hall; bring your laptop and the notes.",
)
FP32_TOLERANCE = 1e-3  # max |p_onnx - p_torch| of an fp32 export
INT8_TOLERANCE = 0.15  # a sanity bound: int8 moves probabilities, never by this much here
Choice = Literal["int8", "fp32", "both"]


def load_eager(model_dir: Path) -> Any:
    """The checkpoint as an fp32 torch model with eager attention, returning tuples."""
    from pipeline.model.transformer import load_checkpoint

    model = load_checkpoint(model_dir).eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    model.config._attn_implementation = "eager"
    model.config.return_dict = False
    return model


def export_fp32(model_dir: Path, out: Path) -> Path:
    """``torch.onnx.export`` of the checkpoint with dynamic batch and sequence axes."""
    import torch

    model = load_eager(model_dir)
    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example, example.clone()),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return out


def optimize(model_dir: Path, fp32: Path, out: Path) -> dict[str, int]:
    """ONNX Runtime's transformer fusions (``bert`` model type); the fused-operator counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    from pipeline.model.onnx_runtime import read_config

    config = read_config(model_dir)
    if config.get("model_type") not in BERT_LIKE:
        shutil.copy(fp32, out)
        return {}
    optimized = optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=int(config.get("num_attention_heads") or config.get("n_heads") or 0),
        hidden_size=int(config.get("hidden_size") or config.get("dim") or 0),
    )
    optimized.save_model_to_file(str(out))
    stats: dict[str, int] = optimized.get_fused_operator_statistics()
    return {op: n for op, n in stats.items() if n}


def quantize_int8(source: Path, out: Path, per_channel: bool = True) -> Path:
    """Dynamic int8 quantisation (weights int8, activations quantised per run)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The fused graph's contrib ops defeat ONNX shape inference: their outputs are float.
    quantize_dynamic(
        source,
        out,
        per_channel=per_channel,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    return out


def stamp(path: Path, model_dir: Path, precision: str) -> None:
    """Record the source weights' digest, the precision and the card's version in ``path``."""
    import onnx

    from pipeline.model.card import ModelCard

    card = ModelCard.load(model_dir)
    model = onnx.load(str(path))
    entries = {
        META_WEIGHTS: weights_digest(model_dir),
        META_PRECISION: precision,
        META_SOURCE: card.version if card else f"hf:{model_dir.name}",
    }
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def max_difference(model_dir: Path, onnx_path: Path, texts: tuple[str, ...]) -> float:
    """Largest |P_onnx - P_torch| over ``texts`` (both on the checkpoint's own classes)."""
    from pipeline.model.transformer import TransformerClassifier

    torch_model = TransformerClassifier(model_dir, device="cpu", quantize="none")
    onnx_model = OnnxClassifier(model_dir, onnx_path=onnx_path, max_len=torch_model.max_len)
    reference = torch_model.raw_probs(list(texts))
    return float(np.abs(onnx_model.raw_probs(list(texts)) - reference).max())


def verify(model_dir: Path, onnx_path: Path, tolerance: float) -> float:
    """Raise when the export's probabilities stray more than ``tolerance`` from torch's."""
    difference = max_difference(model_dir, onnx_path, CHECK_TEXTS)
    if difference > tolerance:
        raise RuntimeError(f"{onnx_path}: max |dP| {difference:.4g} vs torch > {tolerance}")
    return difference


def export_checkpoint(
    model_dir: Path,
    out_dir: Path | None = None,
    *,
    precision: Choice = "int8",
    fuse: bool = True,
    per_channel: bool = True,
) -> dict[Precision, Path]:
    """Write the checkpoint's ONNX file(s) into ``out_dir`` (default: the checkpoint dir)."""
    model_dir = Path(model_dir)
    out_dir = Path(out_dir or model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted: tuple[Precision, ...] = ("int8", "fp32") if precision == "both" else (precision,)
    written: dict[Precision, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw = export_fp32(model_dir, Path(tmp) / "raw.onnx")
        fp32 = Path(tmp) / "fp32.onnx"
        if fuse:
            optimize(model_dir, raw, fp32)
        else:
            shutil.copy(raw, fp32)
        for name in wanted:
            staged = Path(tmp) / ONNX_FILES[name]
            if name == "int8":
                quantize_int8(fp32, staged, per_channel)
            else:
                shutil.copy(fp32, staged)
            stamp(staged, model_dir, "int8-dynamic" if name == "int8" else "float32")
            verify(model_dir, staged, INT8_TOLERANCE if name == "int8" else FP32_TOLERANCE)
            written[name] = Path(shutil.copy(staged, out_dir / ONNX_FILES[name]))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="a HF sequence-classification checkpoint")
    parser.add_argument("--out", type=Path, help="output folder (default: the checkpoint's)")
    parser.add_argument("--precision", choices=("int8", "fp32", "both"), default="int8")
    parser.add_argument("--no-fuse", action="store_true", help="skip ORT's transformer fusions")
    parser.add_argument("--per-tensor", action="store_true", help="one int8 scale per matrix")
    args = parser.parse_args(argv)
    written = export_checkpoint(
        args.model_dir,
        args.out,
        precision=args.precision,
        fuse=not args.no_fuse,
        per_channel=not args.per_tensor,
    )
    for name, path in written.items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
