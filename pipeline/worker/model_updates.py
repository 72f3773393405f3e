"""Which model a worker may switch to: the registry's current version, verified.

A model-updates message only makes the worker re-read the registry: the ``path`` it carries
is ignored, and the version it names is only a hint. The worker then loads the registry's
current version only if its files still match the checksums recorded when it was
registered (``ModelRegistry.verify``, hashed in the model-loading thread). A version that
fails is refused once with one log line and not re-hashed until its files change. Workers
pinned with ``OPINION_MODEL_DIR`` never get here (``create_app`` starts no follower).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from pipeline.config import Settings
from pipeline.model.registry import (
    ChecksumError,
    ModelRegistry,
    RegistryError,
    UnsealedVersion,
)
from pipeline.model.types import SentimentScorer
from pipeline.schemas import ModelUpdate
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.model_holder import ModelHolder

log = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int], ...]


def parse_model_update(value: bytes | None) -> ModelUpdate | None:
    """An announcement from the model-updates topic, or ``None`` (logged) for a null or
    malformed record: one bad record must never stop the follower on every worker."""
    if value is None:
        log.warning("Ignoring a model update record without a value")
        return None
    try:
        return ModelUpdate.from_bytes(value)
    except (ValueError, TypeError):
        log.warning("Ignoring malformed model update %r", value[:200])
        return None


def initial_scorer(settings: Settings) -> SentimentScorer:
    """The worker's first model: ``OPINION_MODEL_DIR``, else the registry's current version
    (verified: ``ChecksumError`` when its files changed), else the bundled one.

    A current version registered before checksums existed is loaded with a warning (it is
    what the worker ran before the upgrade); hot swaps to such a version are refused."""
    from pipeline.model import load_scorer

    if settings.model_dir is not None:
        return load_scorer(settings)
    registry = ModelRegistry(settings.registry_dir)
    version = registry.current_version()
    if version is None:
        return load_scorer(settings)
    try:
        path = registry.verify(version)
    except UnsealedVersion as exc:
        log.warning("%s; loading it anyway at start-up", exc)
        path = registry.path(version)
    return load_scorer(settings, path)


def _stamp(directory: Path, checksums: Path) -> Stamp:
    """(name, size, mtime) of a version's files and its checksum file: cheap change test."""
    out = []
    for path in sorted([*directory.rglob("*"), checksums]):
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


class RegistryFollower:
    """Switches a ``ModelHolder`` to the registry's current version once it is verified."""

    def __init__(
        self, holder: ModelHolder, registry: ModelRegistry, metrics: WorkerMetrics | None = None
    ) -> None:
        self.holder = holder
        self.registry = registry
        self.metrics = metrics
        self._lock = asyncio.Lock()
        self._refused: dict[str, Stamp] = {}

    async def follow(self, hint: ModelUpdate | None = None) -> bool:
        """Re-read the registry and switch to its current version; True if switched.

        ``hint`` (an announcement) is only compared with the registry and logged."""
        async with self._lock:
            version = self.registry.current_version()
            if hint is not None and hint.version != version:
                log.warning(
                    "A model update names %r but the registry's current version is %s: "
                    "following the registry",
                    hint.version,
                    version or "none",
                )
            if version is None or version == self.holder.version:
                return False
            path = self.registry.path(version)
            stamp = _stamp(path, self.registry.checksums_dir / f"{version}.json")
            if self._refused.get(version) == stamp:
                return False  # refused before and unchanged since: do not re-hash
            try:
                await self.holder.in_loader_thread(lambda: self.registry.verify(version))
            except (RegistryError, OSError) as exc:
                if isinstance(exc, ChecksumError):
                    self._refused[version] = stamp
                log.error(
                    "Not switching to model %s: %s; keeping %s", version, exc, self.holder.version
                )
                return False
            self._refused.pop(version, None)
            swapped = await self.holder.swap(path, version)
        if swapped and self.metrics is not None:
            self.metrics.model_swaps.inc()
            self.metrics.model_version = self.holder.version
        return swapped
