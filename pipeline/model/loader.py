"""Assemble a ``RoutedScorer`` from settings and checkpoint directories."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from pipeline.config import Settings
from pipeline.model.card import ModelCard
from pipeline.model.encoder_head import EncoderHeadClassifier
from pipeline.model.ngram import CharNgramClassifier
from pipeline.model.null import NullClassifier, is_null_card
from pipeline.model.onnx_runtime import load_onnx
from pipeline.model.scorer import ProbModel, Route, RoutedScorer
from pipeline.model.sentence_encoder import EncoderMissing, encoder_path, load_encoder
from pipeline.model.transformer import TransformerClassifier

log = logging.getLogger(__name__)
DEFAULT_FUSION_WEIGHT = 0.2


def _fusion_weight(settings: Settings, card: ModelCard | None) -> float:
    """``OPINION_FUSION_WEIGHT`` when set, else the card's tuned weight, else 0.2."""
    if settings.fusion_weight is not None:
        return settings.fusion_weight
    if card is not None and card.fusion_weight is not None:
        return card.fusion_weight
    return DEFAULT_FUSION_WEIGHT


def load_model(model_dir: Path, settings: Settings) -> tuple[ProbModel, ModelCard]:
    """A transformer checkpoint, a bundled n-gram artefact or the null model, with its card."""
    card = ModelCard.load(model_dir)
    if is_null_card(card):
        return NullClassifier(card), card
    if CharNgramClassifier.is_artefact(model_dir):
        model = CharNgramClassifier(model_dir, card=card)
        return model, model.card
    exported = load_onnx(model_dir, settings, card)  # CPU + an ONNX export; else torch
    if exported is not None:
        return exported, exported.card
    transformer = TransformerClassifier(
        model_dir,
        device=settings.device,
        max_len=settings.max_seq_len,
        card=card,
        quantize=settings.model_quantize,
        num_threads=settings.torch_threads,
        batch_size=settings.model_batch_size or None,
    )
    return transformer, transformer.card


@lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    log.warning("%s", message)


def load_multilingual(settings: Settings) -> EncoderHeadClassifier | None:
    """The multilingual route's model, or None (turned off, or the encoder is not fetched)."""
    from pipeline.model import BUNDLED_MULTI

    if not settings.multilingual:
        return None
    try:
        encoder = load_encoder(encoder_path(settings.encoder_dir))
    except EncoderMissing as exc:
        _warn_once(f"{exc}; other languages are scored by the English model meanwhile")
        return None
    return EncoderHeadClassifier(Path(settings.multi_model_dir or BUNDLED_MULTI), encoder)


def _pool_weight(
    settings: Settings, multi: EncoderHeadClassifier | None, en_card: ModelCard
) -> float:
    """``OPINION_EN_POOL_WEIGHT`` when set, else the English card's ``multi_pool_weight`` (a
    weight chosen for that model; a checkpoint without one is not pooled)."""
    if multi is None:
        return 0.0
    if settings.en_pool_weight is not None:
        return settings.en_pool_weight
    return en_card.multi_pool_weight or 0.0


def load_zh(settings: Settings) -> tuple[ProbModel, ModelCard]:
    """The Chinese route's model: ``OPINION_ZH_MODEL_DIR``, else the bundled n-gram model, or
    with ``OPINION_ZH_MODEL=transformer`` the locally built transformer (the n-gram model is
    the fallback, with one warning, when it is missing or fails to load)."""
    from pipeline.model import BUNDLED_ZH

    if settings.zh_model_dir:
        return load_model(Path(settings.zh_model_dir), settings)
    if settings.zh_model == "transformer":
        built = settings.zh_transformer_dir
        try:
            return load_model(built, settings)
        except Exception as exc:  # a missing, partial or foreign checkpoint: fall back
            _warn_once(
                f"Chinese transformer {built} not loadable ({exc}); Chinese posts are scored "
                "by the n-gram model meanwhile (build it: python -m "
                "training.build_zh_transformer, or set OPINION_ZH_MODEL=ngram)"
            )
    return load_model(BUNDLED_ZH, settings)


def build_scorer(settings: Settings, en_dir: Path) -> RoutedScorer:
    en_model, en_card = load_model(Path(en_dir), settings)
    zh_model, zh_card = load_zh(settings)
    multi = load_multilingual(settings)
    en_fusion = _fusion_weight(settings, en_card)
    routes = {
        "en": Route("en", en_model, en_fusion, "en", multi, _pool_weight(settings, multi, en_card)),
        "zh": Route("zh", zh_model, _fusion_weight(settings, zh_card), "zh"),
    }
    cards: dict[str, object] = {"en": en_card, "zh": zh_card}
    if any(lang not in ("en", "zh") for lang in en_card.languages):
        fallback = "default"  # a multilingual checkpoint was configured: it knows best
        routes["*"] = Route(fallback, en_model, 0.0, None)
    elif multi is not None:
        fallback = "multi"
        routes["*"] = Route(fallback, multi, 0.0, None)
        cards["multi"] = multi.card
    else:
        fallback = "en-fallback"
        routes["*"] = Route(fallback, en_model, 0.0, None)
    # The scorer's version is the default model's: in a registry, the folder name (what
    # the worker compares with the registry's current pointer), else the card's version.
    en_dir = Path(en_dir)
    version = en_dir.name if en_dir.parent.name == "versions" else en_card.version
    versions = {"en": version, "zh": zh_card.version, fallback: version}
    if multi is not None:
        versions["multi"] = multi.card.version
    return RoutedScorer(
        routes,
        fallback="*",
        version=version,
        cards=cards,
        versions=versions,
    )
