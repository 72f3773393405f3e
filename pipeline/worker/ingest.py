"""Ingest stage: bytes -> validated, cleaned, masked, language-tagged, watch-matched post.

Pure functions (no I/O) so they are unit-testable and cheap in the hot loop; anything
invalid raises ``InvalidMessage`` with the stage and reason for the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.config import Settings
from pipeline.schemas import InvalidMessage, Post, parse_post
from pipeline.text.clean import clean_text, repost_fingerprint
from pipeline.text.language import detect_language
from pipeline.text.pii import author_hash, mask_personal_data
from pipeline.watches.model import WatchSet

# Event times outside this range are rejected: a post dated year 1 made every later read of
# its watch's buckets fail (``datetime`` cannot represent the UTC bucket start, year 0).
EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2200, 1, 1, tzinfo=UTC)
# Fields that end up in the scored event, Redis keys or hashes: they must encode as UTF-8.
_OUTPUT_FIELDS = ("id", "text", "title", "url", "source_name", "author", "lang")


def check_output_safe(post: Post) -> None:
    """Raise ``InvalidMessage`` for what parses but cannot be stored or published: unpaired
    surrogates (JSON ``\\ud800`` escapes are valid JSON but not Unicode text) and event
    times outside [1970, 2200)."""
    for name in _OUTPUT_FIELDS:
        value = getattr(post, name)
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(exc.object[exc.start])
            raise InvalidMessage(
                "decode", f"{name}: unpaired surrogate U+{code:04X} (not valid Unicode text)"
            ) from None
    if not EARLIEST_EVENT <= post.created_at < LATEST_EVENT:
        raise InvalidMessage(
            "validate", f"created_at: {post.created_at.isoformat()} is outside 1970..2200"
        )


@dataclass(frozen=True)
class PreparedPost:
    """A post ready for scoring: masked text, language and the watches it matched."""

    post: Post
    text: str  # cleaned and masked: what is scored, stored and shown
    title: str | None
    lang: str
    fingerprint: str
    watch_ids: list[str]
    author_hash: str | None

    @property
    def event_ts(self) -> float:
        return self.post.created_at.timestamp()


def prepare(
    raw: bytes | None, *, settings: Settings, watches: WatchSet, salt: bytes
) -> PreparedPost:
    """Validate and clean one message, or raise ``InvalidMessage``."""
    post = parse_post(
        raw, max_bytes=settings.max_message_bytes, max_text_chars=settings.max_text_chars
    )
    check_output_safe(post)
    cleaned = clean_text(post.text)
    if not cleaned:
        raise InvalidMessage("normalise", "text has no visible characters after cleaning")
    clean_title = clean_text(post.title) if post.title else None
    lang = post.lang or detect_language(cleaned)  # validated and normalised by ``Post``
    # Watches match the unmasked text (a handle like @AcmeAir names the brand); only the
    # masked text leaves this function.
    watch_ids = watches.match(cleaned, lang=lang, source=post.source, title=clean_title)
    return PreparedPost(
        post=post,
        text=mask_personal_data(cleaned),
        title=mask_personal_data(clean_title) if clean_title else None,
        lang=lang,
        fingerprint=repost_fingerprint(cleaned),
        watch_ids=watch_ids,
        author_hash=author_hash(post.author, salt),
    )
