"""The vocabulary of the settings: the configuration error, topic roles, case-insensitive
choice types."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BeforeValidator

from pipeline.schemas import AlertKind


class ConfigError(RuntimeError):
    """Configuration is missing or inconsistent; the message says what to set."""


TopicRole = Literal["social", "news", "scored", "alerts", "labels", "dead_letter", "model_updates"]
TOPIC_ROLES: tuple[TopicRole, ...] = (
    "social",
    "news",
    "scored",
    "alerts",
    "labels",
    "dead_letter",
    "model_updates",
)


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic the monitor uses: its role, name and partition count."""

    role: TopicRole
    name: str
    partitions: int


def _folded(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


SeverityName = Annotated[Literal["low", "medium", "high", "critical"], BeforeValidator(_folded)]
"""An alert severity (``pipeline.schemas.SEVERITIES``), case-insensitive."""
AlertKindName = Annotated[AlertKind, BeforeValidator(_folded)]
"""A kind of surge (``pipeline.schemas.ALERT_KINDS``), case-insensitive."""
NetworkName = Annotated[
    str, BeforeValidator(lambda v: str(ipaddress.ip_network(str(v).strip(), strict=False)))
]
"""An IP address or CIDR network (``10.0.0.2``, ``10.0.0.0/24``), normalised to CIDR form."""


def literal_choices(annotation: Any) -> tuple[str, ...]:
    """The string values of the ``Literal`` in a field's type (through ``Annotated`` and
    ``| None``); empty for any other type."""
    origin = get_origin(annotation)
    if origin is Literal:
        return tuple(v for v in get_args(annotation) if isinstance(v, str))
    if origin is Annotated:
        return literal_choices(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return tuple(c for arg in get_args(annotation) for c in literal_choices(arg))
    return ()
