"""Fault-scenario fixtures and the summary table printed at the end of the test session.

Each scenario appends a ``Row`` (scenario, messages in, scored, dead-lettered, lost,
double-counted) through the ``fault_report`` fixture; ``pytest_terminal_summary`` prints
them, so the table shows with ``pytest -q`` and in ``make test`` / ``make test-faults``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.helpers import Row
from tests.faults.tiny_model import build_tiny_checkpoint

ROWS: list[Row] = []
HEADERS = ("scenario", "messages in", "scored", "dead-lettered", "lost", "double-counted")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-init BERT checkpoint (fast on CPU) for the worker processes."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def fault_report() -> list[Row]:
    """Scenarios append their rows here."""
    return ROWS


def format_table(rows: list[Row]) -> list[str]:
    """The rows as an aligned text table, notes underneath."""
    cells = [HEADERS, *(r.cells() for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines += [f"  {r.scenario}: {r.note}" for r in rows if r.note]
    return lines


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not ROWS:
        return
    terminalreporter.section("fault scenarios: nothing lost, nothing double-counted")
    for line in format_table(ROWS):
        terminalreporter.write_line(line)
