# One command for each job (README.md): `make book` builds the book, `make test` runs every test.
# Both create .venv from the exact pins in requirements.txt on first use.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Steps share _build/ci_notebooks and the kernel: never run them concurrently.
.NOTPARALLEL:

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CI_NB  := _build/ci_notebooks
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

# pytest exits 5 when it collects nothing (no tests written yet, no doctests in mmlib yet):
# report it and go on. Any other non-zero exit fails.
define pytest_allow_empty
	$(BIN)/python -m pytest $(1) || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; \
	  echo "note: pytest collected nothing for '$(1)' (exit 5), continuing"; }
endef

.PHONY: help venv kernel-check book test test-unit test-doctest test-papermill test-nbval lab bench clean distclean

help:
	@echo "make book   build the book into _build/html (executes every chapter; -W -n)"
	@echo "make test   unit tests, doctests, every chapter via papermill (small sizes) and nbval"
	@echo "make lab    JupyterLab with the chapters opening as notebooks"
	@echo "make bench  print the benchmark figures (benchmarks/*.py); no pass/fail"
	@echo "make venv   create/update .venv only"
	@echo "make clean  remove build artefacts (keeps .venv); make distclean also removes .venv"

venv: $(STAMP)

# Reinstall only when the pins, the package metadata or the Lab settings change.
$(STAMP): requirements.txt pyproject.toml tools/jupyterlab_overrides.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# requirements.txt is a complete freeze: install exactly it, then check it is consistent.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.txt
	$(BIN)/python -m pip check
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	# Kernel `python3` = this venv's interpreter (absolute path), for papermill, nbval, jupyter-book.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)"
	# JupyterLab in this venv opens Markdown (jupytext) files as notebooks.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp tools/jupyterlab_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

kernel-check: $(STAMP)
	@$(BIN)/python tools/check_kernel.py

# The build log goes to _build/book.log; the per-chapter execution times myst-nb logged are printed
# after it. A build still running after BOOK_TIMEOUT seconds is stopped (a hung kernel fails fast).
BOOK_TIMEOUT ?= 1800
book: kernel-check
	@mkdir -p _build
	timeout -k 30 $(BOOK_TIMEOUT) $(BIN)/jupyter-book build . --builder html --all -W -n --keep-going \
	  2>&1 | tee _build/book.log || { rc=$$?; $(BIN)/python tools/run_notebooks.py book-times _build/book.log; \
	  [ $$rc -ne 124 ] || echo "book: build stopped after BOOK_TIMEOUT=$(BOOK_TIMEOUT) s; the chapter" \
	    "that hung is the one 'started, no Executed line' above"; exit $$rc; }
	@$(BIN)/python tools/run_notebooks.py book-times _build/book.log
	@test -f _build/html/index.html
	@echo "book: $(CURDIR)/_build/html/index.html"

test: test-unit test-doctest test-papermill test-nbval

test-unit: kernel-check
	$(call pytest_allow_empty,tests)

test-doctest: kernel-check
	$(call pytest_allow_empty,--doctest-modules mmlib)

# Each chapter with the smaller sizes of book/_ci_parameters.yml injected into its parameters cell.
test-papermill: kernel-check
	$(BIN)/python tools/run_notebooks.py run

# Each chapter at CI size (the same overrides as papermill), one pytest item per cell (outputs
# are not compared: --nbval-lax); only the book build runs the chapters at full size.
test-nbval: kernel-check
	$(BIN)/python tools/run_notebooks.py nbval

# Performance figures live here, never in timed test assertions.
bench: kernel-check
	@for f in benchmarks/bench_*.py; do echo "=== $$f"; $(BIN)/python $$f; done

# Jupyter refuses to run as root unless told; containers often are root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

lab: kernel-check
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/book $(LAB_ARGS)

clean:
	rm -rf _build .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
