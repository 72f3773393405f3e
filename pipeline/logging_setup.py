"""Process-wide logging: the configured level, text or JSON lines, quiet client loggers.

Every command (``pipeline.cli``) and every worker (``pipeline.worker.runner``, which tells
Faust to leave logging alone) configure logging here, so ``OPINION_LOG_LEVEL`` and
``OPINION_LOG_FORMAT`` mean the same everywhere.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# httpx logs every request's full URL at INFO: webhook URLs are secrets
QUIET_LOGGERS = ("kafka", "aiokafka", "botocore", "urllib3", "httpx", "httpcore")

LogFormat = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and
    exc_info (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str | int = "INFO", fmt: LogFormat = "text") -> None:
    """Replace the root logger's handlers with one stderr handler at ``level`` in ``fmt``.

    In JSON mode Python warnings and transformers' messages are logged too, and progress
    bars are off, so every line on stderr is a JSON object."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        if type(old) is logging.StreamHandler:  # ours or basicConfig's; test capture stays
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(fmt == "json")
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    if fmt == "json":
        _route_library_output()


def _route_library_output() -> None:
    """No progress bars on stderr, and transformers' own handler replaced by ours."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a runtime dependency
        return
    hf_logging.disable_progress_bar()
    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
