"""Rolling sentiment aggregates in Redis (per watch, source, language and overall)."""

from pipeline.aggregation.bucket import Bucket
from pipeline.aggregation.store import AggregateStore, AsyncAggregateStore

__all__ = ["AggregateStore", "AsyncAggregateStore", "Bucket"]
