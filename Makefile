# One command for each job (README.md): `make book` builds the book, `make test` runs every test.
# Both create .venv from the exact pins in requirements.txt on first use.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# `make test` runs its steps two at a time (see `test:` below); each step writes only its own
# files (the book build _build/html and friends, nbval _build/ci_notebooks, which
# tools/run_notebooks.py locks), so any two of them can run together.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CI_NB  := _build/ci_notebooks
# npm ci's marker: the vendored JavaScript (tools/offline_widgets.py) is installed.
VENDOR := node_modules/.package-lock.json
# Seconds per notebook cell: the same as execute.timeout in _config.yml.
CELL_TIMEOUT := 300

# Use the venv's own Jupyter paths before the user's (~/.local/share/jupyter), so kernel
# `python3` is the venv's ipykernel (tools/check_kernel.py verifies it).
export JUPYTER_PREFER_ENV_PATH := 1
# Opt in to jupyter_core's platformdirs paths now; silences its DeprecationWarning.
export JUPYTER_PLATFORM_DIRS := 1
# debugpy warns about frozen modules on every kernel start otherwise.
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv vendor chromium kernel-check book test test-lint test-unit test-doctest test-papermill \
        test-nbval test-workflow test-browser screenshot lab bench sweeps clean distclean

help:
	@echo "make book   build the book into _build/html (executes every chapter; -W -n)"
	@echo "make test   ruff, unit tests, doctests, every chapter once at CI size (nbval), the book, browser and Lab tests; two steps at a time"
	@echo "make lab    JupyterLab with the chapters opening as notebooks"
	@echo "make bench  print the benchmark figures (benchmarks/*.py); no pass/fail"
	@echo "make sweeps failure-regime sweeps at CI, book and research size: wall time, throughput"
	@echo "make venv   create/update .venv only (make vendor: the book's JavaScript, npm ci)"
	@echo "make test-browser  every page of the built book in chromium (builds the book if stale)"
	@echo "make screenshot    regenerate docs/dashboard.png (the README's picture) from that run"
	@echo "make clean  remove build artefacts (keeps .venv); make distclean also removes .venv, node_modules"

venv: $(STAMP) $(VENDOR)

# Reinstall only when the pins, the package metadata or the Lab settings change.
# uv (its exact pin in requirements.txt) installs the freeze from PyPI about 10x faster than pip;
# it never downloads a Python (UV_PYTHON_DOWNLOADS=never): it fills this venv's interpreter.
UV_VERSION = $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements.txt)
UV := UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps
$(STAMP): requirements.txt pyproject.toml tools/jupyterlab_overrides.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -n "$(UV_VERSION)" || { echo "error: requirements.txt pins no uv==VERSION" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --no-deps uv==$(UV_VERSION)
	# requirements.txt is a complete freeze: install exactly it, then check it is consistent.
	$(UV) -r requirements.txt
	$(BIN)/python -m pip check
	$(UV) --no-build-isolation -e .
	# Kernel `python3` = this venv's interpreter (absolute path), for papermill, nbval, jupyter-book.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)"
	# JupyterLab in this venv opens Markdown (jupytext) files as notebooks.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp tools/jupyterlab_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

# The JavaScript the static book serves itself (tools/offline_widgets.py): require.js and the
# ipywidgets HTML manager at the versions pinned in package-lock.json, from the npm registry.
vendor: $(VENDOR)

$(VENDOR): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# Debian's chromium for the browser tests; Playwright's own browser download is never used.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium: apt-get install -y chromium"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends chromium \
	    || { apt-get update && apt-get install -y --no-install-recommends chromium; }; \
	else \
	  echo "error: no chromium at $(CHROMIUM). Install Debian's package as root:" \
	       "apt-get install chromium (or set CHROMIUM=/path/to/chromium). Never 'playwright install'." >&2; \
	  exit 1; \
	fi

kernel-check: $(STAMP)
	@$(BIN)/python tools/check_kernel.py

# The book is built once per change of its inputs: `make test` builds it for the browser tests,
# and a later `make book` finds it up to date. `make clean` (or deleting _build/.book-built) forces a build.
BOOK_STAMP  := _build/.book-built
BOOK_INPUTS := _config.yml _toc.yml references.bib $(wildcard book/*) $(wildcard mmlib/*.py) \
               $(wildcard tools/*.py) pyproject.toml requirements.txt $(VENDOR)

book: $(BOOK_STAMP)
	@echo "book: $(CURDIR)/_build/html/index.html"

# The build log goes to _build/book.log; the per-chapter execution times myst-nb logged are printed
# after it. A build still running after BOOK_TIMEOUT seconds is stopped (a hung kernel fails fast).
BOOK_TIMEOUT ?= 1800
$(BOOK_STAMP): $(BOOK_INPUTS) | kernel-check
	$(step_start)
	rm -f $@
	@mkdir -p _build
	timeout -k 30 $(BOOK_TIMEOUT) $(BIN)/jupyter-book build . --builder html --all -W -n --keep-going \
	  2>&1 | tee _build/book.log || { rc=$$?; $(BIN)/python tools/run_notebooks.py book-times _build/book.log; \
	  [ $$rc -ne 124 ] || echo "book: build stopped after BOOK_TIMEOUT=$(BOOK_TIMEOUT) s; the chapter" \
	    "that hung is the one 'started, no Executed line' above"; exit $$rc; }
	@$(BIN)/python tools/run_notebooks.py book-times _build/book.log
	@test -f _build/html/index.html
	@touch $@
	$(step_end)

# `make test` runs the steps below two at a time (TEST_JOBS; the machine's two cores): the book
# build (one kernel at a time) beside the unit tests, doctests and chapters, then the browser
# and Lab tests, which need the built book. Each step's output is printed in one block when it
# ends (--output-sync), followed by its wall time; the times are listed again at the end.
# TEST_JOBS=1 runs them one after another. Any failing step fails `make test`.
TEST_JOBS ?= 2
TEST_STEPS := $(BOOK_STAMP) test-browser test-lab test-unit test-nbval test-doctest test-lint \
              test-workflow
STEP_TIMES := _build/step-times
test:
	@rm -rf $(STEP_TIMES) && mkdir -p $(STEP_TIMES)
	@start=$$(date +%s); rc=0; \
	$(MAKE) --no-print-directory --keep-going -j$(TEST_JOBS) --output-sync=target LAB_AFTER=$(BOOK_STAMP) \
	  $(TEST_STEPS) || rc=$$?; \
	echo "=== make test: wall time per step ($$(( $$(date +%s) - start )) s in all, TEST_JOBS=$(TEST_JOBS)) ==="; \
	cat $(STEP_TIMES)/* 2>/dev/null | sort -k2 -n -r; \
	for f in $(STEP_TIMES)/.*; do n=$${f##*/.}; [ -f "$$f" ] && [ ! -f $(STEP_TIMES)/$$n ] && \
	  printf '  %-14s FAILED (started %d s before the end)\n' $$n $$(( $$(date +%s) - $$(cat $$f) )) || true; \
	done; \
	[ $$rc -eq 0 ] || echo "make test: FAILED (a step above failed; exit $$rc)"; exit $$rc

# The first and last line of each step's recipe: its wall time into $(STEP_TIMES).
step_name = $(if $(filter $(BOOK_STAMP),$@),book,$@)
step_start = @mkdir -p $(STEP_TIMES) && date +%s > $(STEP_TIMES)/.$(step_name)
step_end = @t=$$(( $$(date +%s) - $$(cat $(STEP_TIMES)/.$(step_name)) )); \
  printf '  %-14s %5d s\n' $(step_name) $$t | tee $(STEP_TIMES)/$(step_name)

# ruff (pinned in requirements.txt, configured in pyproject.toml) over the library, the tests,
# the tools, the benchmarks and the chapters' code, the chapters converted by jupytext first.
LINT_DIR := _build/lint
test-lint: $(STAMP)
	$(step_start)
	rm -rf $(LINT_DIR) && mkdir -p $(LINT_DIR)
	# One Python process converts every chapter (a jupytext command per file cost ~1 s each).
	$(BIN)/python -c 'import sys, pathlib, jupytext; \
	  [jupytext.write(jupytext.read(f), pathlib.Path(sys.argv[1]) / (f.stem + ".py"), fmt="py:percent") \
	   for f in sorted(pathlib.Path("book").glob("*.md")) if "format_name: myst" in f.read_text()]' $(LINT_DIR)
	$(BIN)/ruff check --no-cache mmlib tests tools benchmarks $(LINT_DIR)
	$(step_end)

# An empty collection (pytest exit 5) fails: tests and doctests exist. UNIT_WORKERS pytest-xdist
# workers share the unit tests (2: the second core when the book build is done or waiting).
UNIT_WORKERS ?= 2
test-unit: kernel-check
	$(step_start)
	$(BIN)/python -m pytest tests --ignore=tests/browser -n $(UNIT_WORKERS) --durations=10
	$(step_end)

test-doctest: kernel-check
	$(step_start)
	$(BIN)/python -m pytest --doctest-modules mmlib
	$(step_end)

# The chapters' one execution in `make test`: each at the CI sizes of book/_ci_parameters.yml
# (injected after its parameters cell by papermill's parameterizer, as `papermill --prepare-only`
# does), run by nbval one pytest item per cell (outputs not compared: --nbval-lax), all in one
# pytest session watched by tools/run_notebooks.py: a chapter still running after 180 s is
# stopped as hung and retried once; per-chapter wall times at the end. Only the book build runs
# the chapters at full size.
test-nbval: kernel-check
	$(step_start)
	$(BIN)/python tools/run_notebooks.py nbval --retry-hung 1
	$(step_end)

# The same chapters through papermill instead (not part of `make test`, which runs nbval): the
# executed notebooks are saved in _build/ci_notebooks/papermill/ to look at.
test-papermill: kernel-check
	$(BIN)/python tools/run_notebooks.py run --retry-hung 1

# The publishing workflow cannot run here, so it is checked offline: its structure against
# check-jsonschema's bundled GitHub-workflow schema, its security (actions pinned to commit
# hashes, permissions, credentials) by zizmor without network.
WORKFLOWS := $(wildcard .github/workflows/*.yml)
test-workflow: $(STAMP)
	$(step_start)
	@test -n "$(WORKFLOWS)" || { echo "error: no workflow in .github/workflows/" >&2; exit 1; }
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	$(BIN)/zizmor --offline --no-progress $(WORKFLOWS)
	$(step_end)

# Every page of the built book in Debian's chromium, served from 127.0.0.1 (tests/browser).
# Screenshots of failing pages go to _build/browser/. BROWSER_WORKERS pytest-xdist workers, each
# with its own chromium, share the pages.
BROWSER_WORKERS ?= 2
test-browser: chromium $(BOOK_STAMP)
	$(step_start)
	MM_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest tests/browser --ignore=tests/browser/test_lab.py \
	  -p no:cacheprovider -n $(BROWSER_WORKERS) --durations=10
	$(step_end)

# The README's picture of the dashboard, taken by the browser tests; commit it deliberately.
screenshot: chromium $(BOOK_STAMP)
	MM_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest tests/browser -p no:cacheprovider -k screenshot
	mkdir -p docs
	cp _build/browser/dashboard.png docs/dashboard.png
	@echo "screenshot: docs/dashboard.png (review, then commit it)"

# Performance figures live here, never in timed test assertions.
bench: chromium kernel-check  # chromium: bench_lab.py times the dashboard in JupyterLab
	@for f in benchmarks/bench_*.py; do echo "=== $$f"; $(BIN)/python $$f; done

# The failure-regimes chapter's sweeps at three sizes (tools/run_sweeps.py); prints wall time and
# throughput. SWEEP_ARGS="--scheduler tcp://HOST:8786" runs them on a Dask cluster.
SWEEP_ARGS ?=
sweeps: kernel-check
	$(BIN)/python tools/run_sweeps.py $(SWEEP_ARGS)

# Jupyter refuses to run as root unless told; containers often are root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
# More server options (tests/browser/lab_fixtures.py passes port, token, --no-browser here).
LAB_EXTRA ?=

lab: kernel-check
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/book $(LAB_ARGS) $(LAB_EXTRA)

clean:
	rm -rf _build .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules

# JupyterLab in a real browser (Debian's chromium via Playwright, never `playwright install`):
# `make lab`'s server on 127.0.0.1 with a token; the dashboard chapter runs, its sliders fit
# 1280x720, a slider moves the figure, saving leaves the chapter unchanged, a downloaded .ipynb
# opens. tests/browser/test_lab.py; part of `make test`, which runs it after the book build
# (LAB_AFTER): the download it opens is then the book's, and the Lab's save of book/dashboard.md
# (the same bytes, its mtime put back by the test) never lands while the build reads the chapter.
LAB_AFTER ?=
.PHONY: test-lab
test-lab: chromium kernel-check $(LAB_AFTER)
	$(step_start)
	MMLIB_TEST_LAB=1 $(BIN)/python -m pytest tests/browser/test_lab.py -p no:cacheprovider
	$(step_end)
