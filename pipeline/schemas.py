"""Wire schemas (pydantic v2, JSON on Kafka). Any Kafka client can feed the monitor.

``Post`` is what producers send; the others are what the monitor emits. Field names are a
public contract documented in ``docs/schemas.md``.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
SourceType = Literal["social", "news"]
Stage = Literal["decode", "parse", "validate", "normalise", "score", "aggregate"]


# Longest accepted string fields of a post (the text's limit is OPINION_MAX_TEXT_CHARS). They
# bound what one post can put into recent lists, sample sets and alert JSON.
MAX_ID_CHARS = 512
MAX_SOURCE_NAME_CHARS = 200
MAX_AUTHOR_CHARS = 256
MAX_LANG_CHARS = 35
MAX_TITLE_CHARS = 1000
MAX_URL_CHARS = 2048
LANG_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
"""A BCP-47-ish language tag, after normalisation (lowercase, ``_`` -> ``-``)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Wire(BaseModel):
    """Base for wire messages: JSON helpers."""

    model_config = ConfigDict(frozen=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes | str):
        return cls.model_validate_json(raw)


class Post(_Wire):
    """An incoming social post or news article.

    Unknown top-level fields are not rejected: they are moved into ``metadata``.
    """

    model_config = ConfigDict(frozen=True, strict=False, str_strip_whitespace=False)

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS, strict=True)
    source: SourceType
    created_at: AwareDatetime
    text: str = Field(strict=True)
    source_name: str | None = Field(None, strict=True, max_length=MAX_SOURCE_NAME_CHARS)
    author: str | None = Field(None, strict=True, max_length=MAX_AUTHOR_CHARS)
    lang: str | None = Field(None, strict=True, max_length=MAX_LANG_CHARS)
    title: str | None = Field(None, strict=True, max_length=MAX_TITLE_CHARS)
    url: str | None = Field(None, strict=True, max_length=MAX_URL_CHARS)
    metadata: dict[str, Any] | None = None
    schema_version: int = Field(1, strict=True, ge=1)

    @field_validator("lang")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        """Normalise (trim, lowercase, ``_`` -> ``-``; empty = detect) and check the tag."""
        if value is None or not value.strip():
            return None
        code = value.strip().replace("_", "-").lower()
        if not LANG_CODE.match(code):
            raise ValueError(f"{value[:40]!r} is not a language code like 'en' or 'zh-hant'")
        return code

    @model_validator(mode="before")
    @classmethod
    def _unknown_fields_to_metadata(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = set(cls.model_fields)
        extra = {k: v for k, v in data.items() if k not in known}
        if not extra:
            return data
        kept = {k: v for k, v in data.items() if k in known}
        metadata = kept.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return data  # let field validation report the bad metadata type
        kept["metadata"] = {**(metadata or {}), **extra}
        return kept


class ScoredPost(_Wire):
    """A post after cleaning, masking and scoring; published to the scored topic."""

    id: str
    source: SourceType
    source_name: str | None = None
    created_at: datetime
    lang: str
    text: str = Field(description="Masked text (personal data replaced), safe to store/show.")
    title: str | None = None
    url: str | None = None
    author_hash: str | None = Field(None, description="Salted hash of the author, for counting.")
    watch_ids: list[str] = Field(default_factory=list)
    label: SentimentLabel
    probabilities: dict[SentimentLabel, float]
    negativity: float = Field(ge=0, le=1, description="P(negative), fused.")
    model_version: str
    model_route: str = Field("", description="Which model scored it ('en', 'zh', 'multi', ...).")
    explanation: list[str] = Field(default_factory=list, description="Terms that drove it.")
    lexicon_score: float | None = Field(None, description="Lexicon compound in [-1, 1].")
    latency_s: float = Field(0.0, description="Seconds from ingest to scored.")
    ingested_at: datetime = Field(default_factory=utc_now)
    scored_at: datetime = Field(default_factory=utc_now)


class DeadLetter(_Wire):
    """A message the pipeline could not process, with the original bytes and why."""

    topic: str
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = None
    value_b64: str = Field(description="The original bytes, base64.")
    error: str
    stage: Stage
    at: datetime = Field(default_factory=utc_now)

    @classmethod
    def for_bytes(
        cls,
        value: bytes | None,
        *,
        error: str,
        stage: Stage,
        topic: str,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | None = None,
    ) -> DeadLetter:
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            value_b64=base64.b64encode(value or b"").decode(),
            error=error,
            stage=stage,
        )

    def original(self) -> bytes:
        return base64.b64decode(self.value_b64)


class Label(_Wire):
    """An analyst's label for a post; feeds retraining."""

    post_id: str
    text: str
    label: SentimentLabel
    lang: str | None = None
    labeled_by: str
    labeled_at: datetime = Field(default_factory=utc_now)
    model_label: SentimentLabel | None = Field(None, description="What the model said.")
    model_version: str | None = None
    signature: str | None = Field(
        None,
        description="The dashboard's HMAC (pipeline.label_signing); training verifies it.",
    )


AlertState = Literal["firing", "acknowledged", "resolved"]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
AlertKind = Literal["negative_share", "negative_volume", "volume"]
ALERT_KINDS: tuple[AlertKind, ...] = ("negative_share", "negative_volume", "volume")
"""What surged: the negative share, the number of negative posts, or all posts (mentions)."""


class AlertReason(BaseModel):
    """One kind of surge behind an alert: observed vs expected over the incident window.

    ``negative_share``: shares (0..1); ``negative_volume`` and ``volume``: post counts.
    """

    model_config = ConfigDict(frozen=True)

    kind: AlertKind
    observed: float
    expected: float
    ratio: float = Field(description="observed / expected (expected floored at a tiny value)")


class Alert(_Wire):
    """A surge on a watch (negative share, negative posts and/or all posts; see ``kinds``).

    Updates (ack/resolve) reuse the same id.
    """

    id: str
    watch_id: str
    watch_name: str
    state: AlertState = "firing"
    severity: Severity
    score: float = Field(ge=0, le=1)
    window_start: datetime
    window_end: datetime
    negative_share: float
    baseline_share: float
    volume: int
    kinds: list[AlertKind] = Field(default_factory=lambda: list[AlertKind](["negative_share"]))
    reasons: list[AlertReason] = Field(default_factory=list)
    top_terms: list[str] = Field(default_factory=list)
    sample_posts: list[dict[str, Any]] = Field(default_factory=list)
    dashboard_url: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None


class ModelUpdate(_Wire):
    """Announcement that a model version was promoted (or rolled back to)."""

    version: str
    path: str
    action: Literal["promote", "rollback"] = "promote"
    at: datetime = Field(default_factory=utc_now)


class InvalidMessage(ValueError):
    """A message that cannot be accepted; ``stage`` and ``reason`` go to the dead letter."""

    def __init__(self, stage: Stage, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage: Stage = stage
        self.reason = reason


def _reason(error: Any) -> str:
    """One validation error as ``field: what is wrong`` (e.g. ``url: longer than 2048 ...``)."""
    where = ".".join(str(p) for p in error["loc"]) or "<root>"
    ctx = error.get("ctx") or {}
    if error["type"] == "string_too_long":
        size = len(error["input"]) if isinstance(error["input"], str) else "?"
        return f"{where}: longer than {ctx['max_length']} characters ({size})"
    if error["type"] == "value_error" and "error" in ctx:
        return f"{where}: {ctx['error']}"
    return f"{where}: {error['msg']}"


def parse_post(raw: bytes | None, *, max_bytes: int, max_text_chars: int) -> Post:
    """Decode, parse and validate one incoming message, or raise ``InvalidMessage``."""
    if raw is None or len(raw) == 0:
        raise InvalidMessage("decode", "empty message value")
    if len(raw) > max_bytes:
        raise InvalidMessage(
            "decode", f"message is {len(raw)} bytes, over the {max_bytes}-byte limit"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage("decode", f"not valid UTF-8: {exc}") from exc
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidMessage("parse", f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidMessage("parse", f"expected a JSON object, got {type(data).__name__}")
    try:
        post = Post.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(_reason(e) for e in exc.errors(include_url=False)[:5])
        raise InvalidMessage("validate", errors) from exc
    except RecursionError as exc:
        raise InvalidMessage("validate", "structure nested too deeply") from exc
    if not post.text.strip():
        raise InvalidMessage("validate", "text: empty or whitespace only")
    if len(post.text) > max_text_chars:
        raise InvalidMessage(
            "validate", f"text: {len(post.text)} characters, over the {max_text_chars} limit"
        )
    return post
