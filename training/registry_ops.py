"""Registry operations with announcements: promote a version, roll back (holding automatic
promotion, ``training.holds``), list.

Promotion = ``ModelRegistry.set_current`` (an atomic pointer swap) followed by a
``ModelUpdate`` on the model-updates topic; every worker reads that topic and hot-swaps.
Workers also poll the registry pointer (``OPINION_MODEL_POLL_S``), so a lost announcement
only delays the switch.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from pipeline.model.card import ModelCard
from pipeline.model.registry import ModelRegistry, RegistryError
from pipeline.schemas import ModelUpdate
from training.settings import TrainingSettings

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def announce(
    settings: TrainingSettings, registry: ModelRegistry, version: str, action: str
) -> bool:
    """Publish a ``ModelUpdate`` for ``version`` and wait for the broker's ack."""
    from pipeline.kafka_io import producer

    update = ModelUpdate(
        version=version,
        path=str(registry.path(version).resolve()),
        action=action,  # type: ignore[arg-type]
    )
    try:
        client = producer(settings)
    except Exception as exc:
        log.warning(
            "could not announce %s %s (%s); workers switch at their next registry poll "
            "(within OPINION_MODEL_POLL_S=%.0fs)",
            action,
            version,
            exc,
            settings.model_poll_s,
        )
        return False
    try:
        future = client.send(
            settings.topic("model_updates"), key=version.encode(), value=update.to_bytes()
        )
        client.flush(timeout=settings.kafka_connect_timeout_s * 3)
        future.get(timeout=settings.kafka_connect_timeout_s)
        log.info("announced %s of %s on %s", action, version, settings.topic("model_updates"))
        return True
    except Exception as exc:
        log.warning(
            "announcing %s %s failed (%s); workers switch at their next registry poll "
            "(within OPINION_MODEL_POLL_S=%.0fs)",
            action,
            version,
            exc,
            settings.model_poll_s,
        )
        return False
    finally:
        client.close(timeout=5)


def registry_version_of(registry: ModelRegistry, model_dir: Path) -> str | None:
    """The registry version ``model_dir`` is, or None when it is not one of its folders."""
    try:
        resolved = Path(model_dir).resolve()
        if resolved.parent == registry.versions_dir.resolve():
            return resolved.name
    except OSError:
        pass
    return None


def ensure_registered(registry: ModelRegistry, model_dir: Path) -> str:
    """Make the live model (``model_dir``) a registry version that ``current`` points at.

    On a fresh install the live model is the bundled default, outside the registry;
    publishing it (under its card's version) before the first promotion gives
    ``opinion model rollback`` a target. A no-op when it already is the current version.
    """
    existing = registry_version_of(registry, model_dir)
    if existing is not None:
        if registry.current_version() != existing:
            registry.set_current(existing)
        return existing
    card = ModelCard.load(model_dir)
    name = _SAFE.sub("-", card.version if card else Path(model_dir).name).strip("-.") or "base"
    if not registry.path(name).is_dir():
        registry.publish(model_dir, name)
        log.info("published the live model %s as registry version %s", model_dir, name)
    if registry.current_version() != name:
        registry.set_current(name)
    return name


def promote(settings: TrainingSettings, version: str, *, action: str = "promote") -> bool:
    """Point ``current`` at ``version`` and announce it; returns whether it was announced."""
    registry = ModelRegistry(settings.registry_dir)
    registry.set_current(version)
    log.info("registry %s: current -> %s", registry.root, version)
    return announce(settings, registry, version, action)


def rollback(settings: TrainingSettings) -> tuple[str, bool]:
    """Make the previous version current again; (version, announced).

    Also holds automatic promotion by ``opinion train`` (``training.holds``): the rejected
    version and the labels it was trained on are recorded, so the next run on (nearly) the
    same labels does not promote its twin."""
    from training import holds

    registry = ModelRegistry(settings.registry_dir)
    previous = registry.previous()
    rejected = registry.current_version()
    if previous is None:
        raise RegistryError(
            f"nothing to roll back to in {registry.root}: no earlier version "
            f"(current: {rejected or 'none, the bundled default is live'})"
        )
    announced = promote(settings, previous, action="rollback")
    if rejected is not None:
        holds.record_rollback(registry, rejected)
        log.info("automatic promotion held after rollback of %s", rejected)
    return previous, announced


def describe(registry: ModelRegistry) -> list[dict]:
    """One dict per version (oldest first): name, current/previous flags, card summary."""
    current, previous = registry.current_version(), registry.previous()
    rows = []
    for version in registry.versions():
        path = registry.path(version)
        try:
            card = ModelCard.load(path)
        except ValueError:
            card = None
        metrics = {}
        metrics_file = path / METRICS_FILE
        if metrics_file.is_file():
            try:
                metrics = json.loads(metrics_file.read_text()).get("candidate", {})
            except ValueError:
                metrics = {}
        rows.append(
            {
                "version": version,
                "current": version == current,
                "previous": version == previous,
                "created_at": card.created_at if card else None,
                "parent": getattr(card, "parent_version", None) if card else None,
                "analysts_macro_f1": (metrics.get("analysts") or {}).get("macro_f1"),
                "base_macro_f1": (metrics.get("base") or {}).get("macro_f1"),
                "path": str(path),
            }
        )
    return rows
