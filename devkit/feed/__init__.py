"""Demo feed: realistic posts and articles from shipped corpora, replayed into the input topics.

``load_scenario`` reads a versioned scenario (``devkit/feed/scenarios``), ``generate``
turns it into time-ordered ``FeedMessage`` s with ground truth (``Expected``), ``replay``
produces them (``opinion replay``). See ``docs/feed.md``.
"""

from devkit.feed.generate import Expected, FeedMessage, FeedSummary, generate, shift_to_end_now
from devkit.feed.replay import ReplaySummary, parse_speed, read_jsonl, replay, write_jsonl
from devkit.feed.scenario import Scenario, load_scenario, load_watches, scenario_names

__all__ = [
    "Expected",
    "FeedMessage",
    "FeedSummary",
    "ReplaySummary",
    "Scenario",
    "generate",
    "load_scenario",
    "load_watches",
    "parse_speed",
    "read_jsonl",
    "replay",
    "scenario_names",
    "shift_to_end_now",
    "write_jsonl",
]
