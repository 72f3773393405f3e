"""Compact checkpoint weights: 2-D tensors as int8 with a per-row scale, the rest fp16.

A 3-layer MiniLM student is ~17M parameters, 12M of them the word embeddings: 34 MB as
fp16, 17 MB this way. The file is ``model.int8.safetensors`` next to the usual
``config.json`` and tokenizer; ``load_compact`` returns an fp32 state dict for
``AutoModelForSequenceClassification.from_config(config)``. Round-trip error per weight is
at most half a quantisation step of its row (``max|row| / 254``), the same kind of error that
dynamic int8 quantisation adds at run time; the model card's metrics are measured on the
round-tripped weights, i.e. on exactly what ships.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

COMPACT_FILE = "model.int8.safetensors"
_SCALE = ".__scale__"


def save_compact(state: dict[str, torch.Tensor], path: Path) -> Path:
    """Write ``state`` (any float dtype) as int8 rows + fp16 scales / fp16 vectors."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        t = tensor.detach().to(torch.float32).cpu()
        if t.dim() == 2 and t.numel() >= 4096:
            scale = (t.abs().amax(dim=1, keepdim=True) / 127.0).clamp(min=1e-12)
            out[name] = torch.round(t / scale).clamp(-127, 127).to(torch.int8).contiguous()
            out[name + _SCALE] = scale.to(torch.float16).contiguous()
        else:
            out[name] = t.to(torch.float16).contiguous()
    save_file(out, str(path), metadata={"format": "pt", "layout": "int8-rowwise"})
    return Path(path)


def load_compact(path: Path) -> dict[str, torch.Tensor]:
    """The fp32 state dict stored by ``save_compact``."""
    raw = load_file(str(path))
    state: dict[str, torch.Tensor] = {}
    for name, tensor in raw.items():
        if name.endswith(_SCALE):
            continue
        scale = raw.get(name + _SCALE)
        if scale is not None:
            state[name] = tensor.to(torch.float32) * scale.to(torch.float32)
        else:
            state[name] = tensor.to(torch.float32)
    return state


def is_compact(model_dir: Path) -> bool:
    return (Path(model_dir) / COMPACT_FILE).is_file()
