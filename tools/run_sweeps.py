#!/usr/bin/env python3
"""Run the failure-regimes chapter's parameter sweeps at CI, book and research size.

Usage (from the repository root, inside .venv; `make sweeps` runs the research size):

    python tools/run_sweeps.py [--sizes ci,book,research] [--workers 2] [--scheduler ADDRESS]

Each size executes `book/failure_regimes.md` through papermill (cwd `book/`) with that size's
knobs injected into its `parameters` cell, then prints every sweep's line from the executed
notebook (points, sessions per point, wall time, points/s and sessions/s) and the chapter's
total wall time. `--scheduler tcp://HOST:8786` runs the sweeps on an existing Dask cluster
instead of a local process pool: the numbers are identical, because every grid point draws
from its own stream spawned from the chapter's seed. Executed notebooks go to
`_build/sweeps/`; nothing in `book/` is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTER = BOOK / "failure_regimes.md"
OUT = ROOT / "_build" / "sweeps"
SIZES = {
    "ci": None,  # read from book/_ci_parameters.yml
    "book": {},  # the chapter's own parameters cell
    "research": {"n_paths": 20000, "n_paths_tail": 100000},
}


def sweep_lines(nb) -> list[str]:
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            lines += [ln for ln in text.splitlines() if ln.startswith("sweep ")]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="ci,book,research")
    ap.add_argument("--workers", type=int, default=2, help="local processes (default 2)")
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://h:8786")
    args = ap.parse_args(argv)
    ci = yaml.safe_load((BOOK / "_ci_parameters.yml").read_text())["failure_regimes"]
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / "failure_regimes.ipynb"
    nbformat.write(jupytext.read(CHAPTER), src)
    for size in args.sizes.split(","):
        if size not in SIZES:
            print(f"unknown size {size!r}; choose from {sorted(SIZES)}", file=sys.stderr)
            return 2
        params = dict(ci if size == "ci" else SIZES[size], n_workers=args.workers)
        if args.scheduler:
            params["scheduler"] = args.scheduler
        print(f"=== {size}: {params}", flush=True)
        t0 = time.perf_counter()
        out = OUT / f"failure_regimes_{size}.ipynb"
        papermill.execute_notebook(str(src), str(out), parameters=params, kernel_name="python3",
                                   cwd=str(BOOK), progress_bar=False)
        wall = time.perf_counter() - t0
        for line in sweep_lines(nbformat.read(out, as_version=4)):
            print("  " + line)
        print(f"  chapter wall time {wall:.1f} s (kernel start and plots included)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
