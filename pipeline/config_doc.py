"""Render the configuration reference (README table) from the ``Settings`` fields.

``python -m pipeline.config_doc`` prints it; a test keeps the README in sync.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr

from pipeline.config import Settings


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{value}`"


def config_table() -> str:
    """Markdown table: variable, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        env = f"OPINION_{name.upper()}"
        rows.append(f"| `{env}` | {_default(field.default)} | {field.description or ''} |")
    return "\n".join(rows)


START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def update_readme(path: Path) -> bool:
    """Rewrite the table between the README markers; True when it changed."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{config_table()}\n{END}{tail}"
    path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        update_readme(Path(__file__).resolve().parents[1] / "README.md")
    else:
        print(config_table())
