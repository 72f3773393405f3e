"""Negative-spike detection: the pure detector (``detector``), offline series (``series``),
and the live driver that emits detector events (``live``)."""
