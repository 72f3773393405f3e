"""Sentiment models: ``load_scorer`` returns a batched, thread-safe ``SentimentScorer``.

English/default checkpoint resolution: explicit ``model_dir``, ``settings.model_dir``
(``OPINION_MODEL_DIR``), the registry's current version (``settings.registry_dir``), else
the bundled model (``pipeline/model/bundled/en``). Chinese: ``settings.zh_model_dir``
(``OPINION_ZH_MODEL_DIR``, any HF checkpoint) else the bundled n-gram model, or with
``OPINION_ZH_MODEL=transformer`` the locally built Chinese transformer
(``<state_dir>/zh-transformer``; the n-gram model is the fallback when it is missing). Other
languages: a head on the multilingual sentence encoder (``OPINION_MULTI_MODEL_DIR`` else the
bundled one), when the encoder has been fetched (``opinion fetch-encoder``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import Settings, get_settings
from pipeline.model.types import Prediction, SentimentScorer

if TYPE_CHECKING:
    from pipeline.model.scorer import RoutedScorer

BUNDLED_DIR = Path(__file__).with_name("bundled")
BUNDLED_EN = BUNDLED_DIR / "en"
BUNDLED_ZH = BUNDLED_DIR / "zh"  # the char n-gram model
BUNDLED_MULTI = BUNDLED_DIR / "multi"

__all__ = [
    "BUNDLED_EN",
    "BUNDLED_MULTI",
    "BUNDLED_ZH",
    "Prediction",
    "SentimentScorer",
    "load_scorer",
    "resolve_model_dir",
]


def resolve_model_dir(settings: Settings, model_dir: Path | None = None) -> Path:
    """The English/default checkpoint directory, by the documented resolution order."""
    if model_dir is not None:
        return Path(model_dir)
    if settings.model_dir is not None:
        return Path(settings.model_dir)
    from pipeline.model.registry import ModelRegistry

    current = ModelRegistry(settings.registry_dir).current()
    return current if current is not None else BUNDLED_EN


def load_scorer(settings: Settings | None = None, model_dir: Path | None = None) -> RoutedScorer:
    """Build a scorer (loads weights: a second or two on CPU). Swap by building a new one."""
    from pipeline.model.loader import build_scorer

    settings = settings or get_settings()
    return build_scorer(settings, resolve_model_dir(settings, model_dir))
