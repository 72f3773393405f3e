"""Assemble a ``RoutedScorer`` from settings and checkpoint directories."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Settings
from pipeline.model.card import ModelCard
from pipeline.model.ngram import CharNgramClassifier
from pipeline.model.scorer import Route, RoutedScorer
from pipeline.model.transformer import TransformerClassifier

DEFAULT_FUSION_WEIGHT = 0.2


def _fusion_weight(settings: Settings, card: ModelCard | None) -> float:
    """``OPINION_FUSION_WEIGHT`` when set, else the card's tuned weight, else 0.2."""
    if settings.fusion_weight is not None:
        return settings.fusion_weight
    if card is not None and card.fusion_weight is not None:
        return card.fusion_weight
    return DEFAULT_FUSION_WEIGHT


def load_model(model_dir: Path, settings: Settings) -> tuple[object, ModelCard]:
    """A transformer checkpoint or a bundled n-gram artefact, with its card."""
    card = ModelCard.load(model_dir)
    if CharNgramClassifier.is_artefact(model_dir):
        model = CharNgramClassifier(model_dir, card=card)
        return model, model.card
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


def build_scorer(settings: Settings, en_dir: Path) -> RoutedScorer:
    from pipeline.model import BUNDLED_ZH

    en_model, en_card = load_model(Path(en_dir), settings)
    zh_dir = Path(settings.zh_model_dir) if settings.zh_model_dir else BUNDLED_ZH
    zh_model, zh_card = load_model(zh_dir, settings)
    routes = {
        "en": Route("en", en_model, _fusion_weight(settings, en_card), "en"),
        "zh": Route("zh", zh_model, _fusion_weight(settings, zh_card), "zh"),
    }
    multilingual = [lang for lang in en_card.languages if lang not in ("en", "zh")]
    fallback = "default" if multilingual else "en-fallback"
    routes["*"] = Route(fallback, en_model, 0.0, None)
    # The scorer's version is the default model's: in a registry, the folder name (what
    # the worker compares with the registry's current pointer), else the card's version.
    en_dir = Path(en_dir)
    version = en_dir.name if en_dir.parent.name == "versions" else en_card.version
    return RoutedScorer(
        routes,
        fallback="*",
        version=version,
        cards={"en": en_card, "zh": zh_card},
        versions={"en": version, "zh": zh_card.version, fallback: version},
    )
