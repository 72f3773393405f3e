"""Typed configuration: one frozen settings object read from ``OPINION_*`` env vars and ``.env``,
in one section per concern (``pipeline.config.settings`` says how they fit together).

Every field's default is documented in the README's configuration table (a test keeps the
two in sync).
"""

from pipeline.config.detector import DetectorParams
from pipeline.config.settings import (
    SECTIONS,
    Settings,
    get_settings,
    read_settings,
    settings_error_line,
)
from pipeline.config.types import (
    TOPIC_ROLES,
    AlertKindName,
    ConfigError,
    NetworkName,
    SeverityName,
    TopicRole,
    TopicSpec,
    literal_choices,
)

__all__ = [
    "SECTIONS",
    "TOPIC_ROLES",
    "AlertKindName",
    "ConfigError",
    "DetectorParams",
    "NetworkName",
    "Settings",
    "SeverityName",
    "TopicRole",
    "TopicSpec",
    "get_settings",
    "literal_choices",
    "read_settings",
    "settings_error_line",
]
