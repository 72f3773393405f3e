"""Settings of the sentiment models: checkpoints, routes, device and precision."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class ModelSettings(BaseModel):
    """Which checkpoints score which language, where, and how fast."""

    model_dir: Path | None = Field(
        None, description="A HF checkpoint dir; unset = registry 'current', else the bundled one."
    )
    model_registry_dir: Path | None = Field(None, description="Unset = <state_dir>/models.")
    zh_model_dir: Path | None = Field(None, description="HF checkpoint for Chinese; optional.")
    zh_model: Literal["ngram", "transformer"] = Field(
        "ngram",
        description="Chinese model when zh_model_dir is unset: ngram (bundled) or transformer "
        "(built by `python -m training.build_zh_transformer` into <state_dir>/zh-transformer; "
        "docs/model.md).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto (CUDA when present), cpu or cuda."
    )
    fusion_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Weight of the lexicon in the fused probabilities; unset = the model "
        "card's tuned weight (0.2 when the card has none).",
    )

    multilingual: bool = Field(
        True,
        description="Score languages other than en/zh with the multilingual encoder's model "
        "(needs `opinion fetch-encoder`, which `make` runs); false = the English model.",
    )
    encoder_dir: Path | None = Field(
        None,
        description="Folder of the multilingual encoder; unset = "
        "~/.cache/opinion-monitor/encoders.",
    )
    multi_model_dir: Path | None = Field(
        None, description="Head of the multilingual route; unset = the bundled one."
    )
    en_pool_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Weight of the multilingual model's opinion pooled into English scores; "
        "unset = the English model card's multi_pool_weight (none there: 0 = off).",
    )

    max_seq_len: int = Field(128, ge=8, description="Tokens per text given to the transformer.")
    model_quantize: Literal["auto", "none", "int8"] = Field(
        "auto",
        description="CPU only: int8 = dynamic int8 quantisation of the transformer's Linear "
        "layers; auto = as the model card's cpu_quantize says; none = fp32.",
    )
    model_runtime: Literal["auto", "torch", "onnx"] = Field(
        "auto",
        description="CPU runtime of a transformer checkpoint: auto = its ONNX export when it has "
        "one (`python -m training.export_onnx DIR`, docs/model.md), else torch; torch; onnx = "
        "the export (an error without one). CUDA always runs torch under auto.",
    )
    torch_threads: int = Field(
        0, ge=0, description="Torch intra-op threads per worker on CPU; 0 = one per core."
    )
    model_batch_size: int = Field(
        0, ge=0, description="Texts per transformer forward pass; 0 = 16 on CPU, 256 on CUDA."
    )
