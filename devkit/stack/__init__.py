"""The embedded local stack: a Kafka-protocol broker (Tansu) and Redis (Valkey), no Docker."""

from devkit.stack.embedded import StackError, StackState, stack_down, stack_status, stack_up

__all__ = ["StackError", "StackState", "stack_down", "stack_status", "stack_up"]
