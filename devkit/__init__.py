"""The dev kit: what runs the monitor on one machine without Docker, and feeds it.

``devkit.stack`` starts an embedded Kafka-protocol broker (Tansu) and Redis (Valkey),
``devkit.feed`` generates and replays the demo feed, ``devkit.demo`` supervises the whole loop
(``opinion demo``). It may import everything; nothing in ``pipeline``, ``dashboard`` or
``training`` imports it (the import contract in pyproject.toml). Installed with ``[local]``.
"""
