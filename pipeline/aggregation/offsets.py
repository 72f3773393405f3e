"""Forget what was counted of an input topic's partitions, for a topic created anew.

Aggregation is idempotent by input offset (``record.lua``: each scope keeps the highest
offset it counted per partition) and the workers skip messages below a partition's
finished offset (``opinion:watermarks``). A topic deleted and created again restarts its
offsets at 0, so both records must go, or the new topic's first messages would be taken for
re-deliveries. ``opinion topics`` (and the dev kit's replay) call this for each input topic
they create; after recreating one by other means, run ``opinion topics --forget TOPIC``.
"""

from __future__ import annotations

import redis

from pipeline import keys


def scopes(client: redis.Redis) -> list[str | None]:
    """Overall and every watch that has counted a post or is configured."""
    counted = {m.decode() for m in client.zrange(keys.FIRST_SEEN, 0, -1)}
    configured = {k.decode() for k in client.hkeys(keys.WATCHES)}
    return [None, *sorted((counted | configured) - {keys.OVERALL_MEMBER})]


def forget_topic(client: redis.Redis, topic: str) -> int:
    """Drop ``topic``'s offset marks in every scope and its finished offsets; returns the
    number of fields removed."""
    removed = 0
    prefix = keys.input_fields_prefix(topic).encode()
    for key in [keys.offsets_key(s) for s in scopes(client)] + [keys.WATERMARKS]:
        fields = [f for f in client.hkeys(key) if f.startswith(prefix)]
        if fields:
            removed += int(client.hdel(key, *fields))
    return removed
