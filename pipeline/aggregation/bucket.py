"""``Bucket``: the counts of one time bucket (pure data, shared by the store and the detector)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Bucket:
    """Counts of posts whose event time falls in ``[start, start + width)``."""

    start: datetime
    volume: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    negativity_sum: float = 0.0
    negative_share: float = 0.0

    @classmethod
    def from_counts(
        cls,
        start: datetime | int,
        volume: int,
        negative: int,
        neutral: int = 0,
        positive: int = 0,
        negativity_sum: float = 0.0,
    ) -> Bucket:
        """A bucket whose ``negative_share`` is computed from the counts."""
        if isinstance(start, int):
            start = datetime.fromtimestamp(start, UTC)
        share = negative / volume if volume else 0.0
        return cls(start, volume, negative, neutral, positive, negativity_sum, share)

    @property
    def mean_negativity(self) -> float:
        return self.negativity_sum / self.volume if self.volume else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly counts (``start`` as ISO 8601)."""
        return {
            "start": self.start.isoformat(),
            "volume": self.volume,
            "negative": self.negative,
            "neutral": self.neutral,
            "positive": self.positive,
            "negativity_sum": round(self.negativity_sum, 6),
            "negative_share": round(self.negative_share, 6),
        }


def epoch(value: datetime) -> int:
    """Whole seconds since the epoch; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() // 1)


def from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)
