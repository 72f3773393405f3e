"""Ingest stage: bytes -> validated, cleaned, masked, language-tagged, watch-matched post.

Pure functions (no I/O) so they are unit-testable and cheap in the hot loop; anything
invalid raises ``InvalidMessage`` with the stage and reason for the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Settings
from pipeline.schemas import InvalidMessage, Post, parse_post
from pipeline.text.clean import clean_text, repost_fingerprint
from pipeline.text.language import detect_language
from pipeline.text.pii import author_hash, mask_personal_data
from pipeline.watches.model import WatchSet


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
    cleaned = clean_text(post.text)
    if not cleaned:
        raise InvalidMessage("normalise", "text has no visible characters after cleaning")
    clean_title = clean_text(post.title) if post.title else None
    lang = (post.lang or "").strip().lower()[:8] or detect_language(cleaned)
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
