"""The import contracts (pyproject.toml, docs/architecture.md) hold, and they catch a break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "dashboard", "training", "devkit", "benchmarks")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five packages' Python files and pyproject.toml, without models or data."""
    root = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "pyproject.toml", root)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            target = root / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return root


def test_the_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("pipeline/keys.py", "import devkit.stack"),
        ("pipeline/config/settings.py", "import dashboard.data"),
        ("pipeline/schemas.py", "import training.run"),
        ("pipeline/detection/live.py", "from pipeline.alerting import store"),
        ("dashboard/data.py", "import training.run"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(source_copy: Path, module: str, line: str) -> None:
    path = source_copy / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}  # injected by the test\n", encoding="utf-8")
    try:
        result = _lint_imports(source_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and module.removesuffix(".py").replace("/", ".") in (
        result.stdout
    )
