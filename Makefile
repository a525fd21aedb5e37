# The workbook's two commands: `make lab` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch's pin, read from pyproject.toml (the one place pins are written). It is installed first and
# alone so pip takes the CPU build and never the several-GB CUDA one.
TORCH_PIN := $(shell $(PYTHON) -c 'import tomllib; print(next(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if d.startswith("torch")))')
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=120 -p no:cacheprovider
PORT ?= 8888
# Open a browser only where there is a screen; otherwise JupyterLab prints the URL to open.
BROWSER_FLAG := $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname))),,--no-browser)
# JupyterLab refuses to run as root unless told to (containers, Binder-like machines often are root).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test check unit notebooks-test notebooks models lint bench browser browser-test clean-venv test-latest

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make with PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

models: $(VENV)/.installed
	$(PY) -m adapterlab build

lab: models
	@$(eval TOKEN := $(shell $(PYTHON) -c 'import secrets; print(secrets.token_hex(16))'))
	@echo "Open the workbook at: http://127.0.0.1:$(PORT)/lab/tree/00_start_here.ipynb?token=$(TOKEN)"
	$(VENV)/bin/jupyter lab $(BROWSER_FLAG) $(ROOT_FLAG) --ServerApp.port=$(PORT) --ServerApp.port_retries=0 \
		--ServerApp.root_dir=notebooks --IdentityProvider.token=$(TOKEN) notebooks/00_start_here.ipynb

lint: $(VENV)/.installed
	$(PY) -m ruff check src tests benchmarks tools deploy

# ---------------------------------------------------------------------------------------------- the tiers
# `make check`: the inner loop (lint, unit tests not marked slow; a couple of minutes).
# `make test`: what CI runs: everything, slow recipe re-runs, the solved notebooks, browser and room included.
#
# Every test stage runs with HOME, the model cache, the work folder, progress, Jupyter's, IPython's and
# matplotlib's folders under build/ (TEST_ENV), never the user's own: `make test` reads and writes nothing in
# HOME but pip's and npm's download caches (the install). The model cache build/models is built once (a
# current, stamped cache is only read) and used by every stage.
BUILD := $(CURDIR)/build
TEST_HOME := $(BUILD)/home
TEST_CACHE := $(BUILD)/models
RUN_DIR := $(BUILD)/run
SOLVED := $(BUILD)/solved
TEST_ENV = env HOME=$(TEST_HOME) XDG_CACHE_HOME=$(TEST_HOME)/.cache XDG_CONFIG_HOME=$(TEST_HOME)/.config \
	XDG_DATA_HOME=$(TEST_HOME)/.local/share MPLCONFIGDIR=$(TEST_HOME)/.config/matplotlib \
	IPYTHONDIR=$(TEST_HOME)/.ipython JUPYTER_CONFIG_DIR=$(TEST_HOME)/.jupyter \
	JUPYTER_DATA_DIR=$(TEST_HOME)/.local/share/jupyter JUPYTER_RUNTIME_DIR=$(TEST_HOME)/.local/share/jupyter/runtime \
	ADAPTERLAB_CACHE=$(TEST_CACHE) ADAPTERLAB_TEST_CACHE=$(TEST_CACHE) \
	ADAPTERLAB_PROGRESS=$(RUN_DIR)/progress.json ADAPTERLAB_WORK=$(RUN_DIR)/work
# pytest exits 5 when it collected nothing; say so plainly (make fails on it either way).
TEST_PYTEST = $(TEST_ENV) $(PY) -m pytest -p no:cacheprovider $(1) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests in $(lastword $(1)): that is a failure." >&2; exit $$rc; }

# The unit tests on two workers (pytest-xdist), each taking the next test when it is free: the slowest test
# (remaking gpt2-mini, about a minute) then runs beside the others instead of after them.
XDIST := -n 2 --dist worksteal

.PHONY: check test-home test-models
check: lint test-home
	@$(call TEST_PYTEST,$(XDIST) -m "not slow" tests)

# A fresh HOME and run folder for each run of the tests (the model cache is kept: it is stamped).
test-home: $(VENV)/.installed
	@rm -rf $(TEST_HOME) $(RUN_DIR) && mkdir -p $(TEST_HOME) $(RUN_DIR)

test-models: test-home
	@$(TEST_ENV) $(PY) -m adapterlab build

# Every test module, the slow recipe re-runs included (the browser and room tests have their own stages).
unit: test-models
	@$(call TEST_PYTEST,$(XDIST) tests)

# Each notebook once, with its solved cells: tools/solved_run.py writes every notebook to build/solved/ with a
# cell after each tagged exercise that answers it with each typical wrong answer (rejected with its message)
# and then the solution (accepted); nbval runs every cell in one fresh kernel per notebook and compares the
# outputs of the cells tagged nbval-check-output.
notebooks-test: test-models
	@rm -rf $(SOLVED) $(RUN_DIR) && mkdir -p $(RUN_DIR)
	@$(TEST_ENV) $(PY) -m tools.solved_run --write $(SOLVED)
	@$(call TEST_PYTEST,$(NBVAL) $(SOLVED))

# Debian's chromium for the browser test; says why when it cannot install it (fails only under CI=true).
browser: $(VENV)/.installed
	tools/install_browser.sh $(PY)

# Every notebook in a real JupyterLab in headless Chromium; skipped, with the reason, without Chromium.
browser-test: test-models browser
	@$(call TEST_PYTEST,-m browser tests/browser)

# The two notebook runs at once (nbval and the browser: each mostly one core, and they share no file), their
# outputs shown whole, one after the other; then the room.
test: lint unit
	@$(MAKE) --no-print-directory -j2 --output-sync=target notebooks-test browser-test
	@$(MAKE) --no-print-directory hub-test

# Re-executes every notebook in place so the stored outputs are those of a fresh top-to-bottom run (in the
# tests' fresh HOME and run folder, so they show no one's attempts).
notebooks: test-models
	$(TEST_ENV) $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=300 notebooks/*.ipynb

# Times every notebook (warm and cold cache) and compares adapters with full models; writes
# docs/benchmarks.{json,md,png}. Not part of `make test`. On a shared machine: make bench BENCH_ARGS="--threads 1"
bench: models
	$(PY) -m benchmarks $(BENCH_ARGS)

# The workbook against the newest releases; writes docs/DRIFT.md. Needs the package index; not part of
# `make test`. A venv of its own (.venv-latest, made anew each run) with the newest release of every runtime
# dependency (torch too, unless the newest is a CUDA build: then its pin), the test tools at their pins, and a
# model cache of its own; unit tests and notebooks write junit XML, which tools/drift_report.py reads.
LATEST := .venv-latest
DRIFT := $(LATEST)/drift
LATEST_PY := $(LATEST)/bin/python
LATEST_RUNTIME = $(shell $(PYTHON) -c 'import tomllib; print(*(d.split("==")[0] for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if not d.startswith("torch")))')
TEST_PINS = $(shell $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"])')

test-latest: export ADAPTERLAB_CACHE = $(CURDIR)/$(LATEST)/cache
test-latest: export ADAPTERLAB_PROGRESS = $(CURDIR)/$(DRIFT)/progress.json
test-latest:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make with PYTHON=/path/to/python3.11")'
	rm -rf $(LATEST)
	mkdir -p $(DRIFT) && date +%s > $(DRIFT)/started
	$(PYTHON) -m venv $(LATEST)
	$(LATEST_PY) -m pip install --quiet --upgrade pip
	torch="$$($(LATEST_PY) -m tools.drift_report torch --pin '$(TORCH_PIN)' --out $(DRIFT)/torch.json)" && \
	$(LATEST_PY) -m pip install --quiet "$$torch" && \
	$(LATEST_PY) -m pip install --quiet "$$torch" $(LATEST_RUNTIME) $(TEST_PINS) && \
	$(LATEST_PY) -m pip install --quiet --no-deps -e .
	$(LATEST_PY) -m adapterlab build > $(DRIFT)/build.log 2>&1; echo $$? > $(DRIFT)/build.rc
	-$(LATEST_PY) -m pytest tests -q -p no:cacheprovider --junitxml=$(DRIFT)/unit.xml
	-$(LATEST_PY) -m pytest $(NBVAL) -q notebooks --junitxml=$(DRIFT)/notebooks.xml
	date +%s > $(DRIFT)/finished
	$(LATEST_PY) -m tools.drift_report report --work $(DRIFT) --out docs/DRIFT.md

clean-venv:
	rm -rf $(VENV)

# A workshop room (tests/hub, docs/JUPYTERHUB.md): a real JupyterHub on 127.0.0.1, learner accounts made with
# useradd, one shared read-only model folder. `make hub` adds JupyterHub's proxy, configurable-http-proxy, from
# npm into the venv (JupyterHub itself comes with the dev extra); `make hub-test` runs the room (four learners
# at once): it creates Unix accounts, so it runs only under CI=true or with ADAPTERLAB_ROOM=1 (and as root), and
# is skipped with the reason otherwise. How many learners a machine holds: sudo .venv/bin/python -m tools.bench_hub_room
CHP_VERSION := 5.3.0
CHP := $(VENV)/node_modules/.bin/configurable-http-proxy

$(CHP): | $(VENV)/.installed
	@command -v npm >/dev/null || { echo "make hub needs node and npm (Debian: apt-get install nodejs npm)." >&2; exit 1; }
	npm install --prefix $(VENV) --no-save --no-audit --no-fund --loglevel=error configurable-http-proxy@$(CHP_VERSION)

hub: $(VENV)/.installed $(CHP)
	@$(PY) -c 'import jupyterhub' 2>/dev/null || { echo "JupyterHub is not in $(VENV): it comes with the dev extra (pip install -e '.[dev]')." >&2; exit 1; }

hub-test: hub
	@$(call TEST_PYTEST,-m hub tests/hub)

.PHONY: hub hub-test
