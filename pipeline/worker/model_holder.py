"""Holds the scorer in use and swaps in a new version without stopping the worker.

The new model is loaded in a background thread; the reference is replaced only once it is
fully loaded, and each batch takes the reference once at its start, so no batch is scored
by a half-loaded model and every scored event carries the version that scored it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from pipeline.model.types import SentimentScorer

log = logging.getLogger(__name__)

Loader = Callable[[Path | None], SentimentScorer]
T = TypeVar("T")


class ModelHolder:
    """The current scorer plus an asynchronous, serialised ``swap``."""

    def __init__(self, loader: Loader, initial: SentimentScorer) -> None:
        self._loader = loader
        self.current = initial
        self._loading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
        self._lock = asyncio.Lock()

    @property
    def version(self) -> str:
        return self.current.version

    async def in_loader_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (e.g. hashing a model's files) in the model-loading thread."""
        return await asyncio.get_running_loop().run_in_executor(self._loading, fn)

    async def swap(self, path: Path | None, version: str | None = None) -> bool:
        """Load ``path`` (None = resolve the registry's current) and switch; False if same."""
        async with self._lock:
            if version is not None and version == self.current.version:
                return False
            loop = asyncio.get_running_loop()
            try:
                scorer = await loop.run_in_executor(self._loading, self._loader, path)
            except Exception:
                log.exception(
                    "Loading model %s from %s failed; keeping %s",
                    version,
                    path,
                    self.current.version,
                )
                return False
            if scorer.version == self.current.version:
                return False
            log.info("Switching model %s -> %s", self.current.version, scorer.version)
            self.current = scorer
            return True
