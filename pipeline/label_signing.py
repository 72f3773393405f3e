"""HMAC signatures of analysts' labels: the dashboard signs, ``opinion train`` verifies.

A signature covers what training uses from a label: the post id, the text (the monitor's own
copy of the post), the label, the language, the analyst and the time the dashboard stamped.
The signed bytes are a JSON array (so no field can bleed into another) of those values, with
the time in UTC at microsecond precision; the signature is ``v1:<hex HMAC-SHA256>`` under
``OPINION_LABEL_SIGNING_KEY``. Anyone who can write to the labels topic but does not hold the
key cannot produce a label training accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from pipeline.schemas import Label

SCHEME = "v1"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _key_bytes(key: SecretStr | str | bytes) -> bytes:
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    return key if isinstance(key, bytes) else key.encode("utf-8")


def _utc(at: datetime) -> str:
    """``at`` in UTC, fixed format (a naive time is taken as UTC, as the label store does)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime(TIME_FORMAT)


def _optional(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def canonical(
    post_id: str, text: str, label: str, lang: Any, labeled_by: str, labeled_at: datetime
) -> bytes:
    """The exact bytes a signature covers."""
    fields = [SCHEME, post_id, text, label, _optional(lang), labeled_by, _utc(labeled_at)]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature_of(key: SecretStr | str | bytes, **fields: Any) -> str:
    """``v1:<hex>`` over ``canonical(**fields)``."""
    mac = hmac.new(_key_bytes(key), canonical(**fields), hashlib.sha256).hexdigest()
    return f"{SCHEME}:{mac}"


def _fields(label: Label) -> dict[str, Any]:
    return {
        "post_id": label.post_id,
        "text": label.text,
        "label": label.label,
        "lang": label.lang,
        "labeled_by": label.labeled_by,
        "labeled_at": label.labeled_at,
    }


def sign(label: Label, key: SecretStr | str | bytes) -> Label:
    """A copy of ``label`` carrying its signature."""
    return label.model_copy(update={"signature": signature_of(key, **_fields(label))})


def verify(signature: Any, key: SecretStr | str | bytes, **fields: Any) -> bool:
    """Whether ``signature`` is the signature of ``fields`` under ``key`` (constant time)."""
    if not isinstance(signature, str) or not signature:
        return False
    try:
        expected = signature_of(key, **fields)
    except (TypeError, ValueError, AttributeError):
        return False
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def verify_label(label: Label, key: SecretStr | str | bytes) -> bool:
    return verify(label.signature, key, **_fields(label))
