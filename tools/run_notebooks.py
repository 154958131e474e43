#!/usr/bin/env python3
"""Convert the book's MyST chapters to notebooks and smoke-run them with papermill.

Usage (from the repository root, inside .venv; `make test` does this):

    python tools/run_notebooks.py convert         # book/*.md -> _build/ci_notebooks/{source,nbval}/
    python tools/run_notebooks.py check           # check _toc.yml and _ci_parameters.yml, run nothing
    python tools/run_notebooks.py run [STEM ...]  # papermill with the CI overrides

A chapter is a `book/*.md` file whose YAML front matter has a `jupytext` header and a
`kernelspec`; plain pages (intro, references, status) are skipped. Converted notebooks go to
`_build/ci_notebooks/`, never into `book/`: `source/` holds the plain conversions (papermill's
input) and `nbval/` the same notebooks with one leading cell that changes the kernel's cwd to
`book/`, because nbval starts its kernel in the notebook's own folder and has no option to change it.

`run` injects the overrides from `book/_ci_parameters.yml` into each chapter's `parameters`
cell and executes it with kernel `python3`, cwd = `book/` (the same cwd as the book build).
It fails if a chapter has no entry in that file, if an entry names no chapter, if an override
names a variable that the chapter's parameters cell does not define, if a chapter has not exactly
one `parameters` cell, or if a chapter is missing from `_toc.yml`.
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
CI_PARAMETERS = BOOK / "_ci_parameters.yml"
TOC = ROOT / "_toc.yml"
OUT = ROOT / "_build" / "ci_notebooks"
SOURCE_DIR = OUT / "source"
NBVAL_DIR = OUT / "nbval"
EXECUTED_DIR = OUT / "papermill"
KERNEL = "python3"
CELL_TIMEOUT = 300  # seconds per cell, the same as execute.timeout in _config.yml


def _front_matter(path: Path) -> dict:
    """Return the YAML front matter of a Markdown file ({} if it has none)."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    meta = yaml.safe_load(text[4:end]) or {}
    return meta if isinstance(meta, dict) else {}


def chapters() -> dict[str, Path]:
    """Map chapter stem -> path for every book/*.md that is a jupytext notebook."""
    found = {}
    for path in sorted(BOOK.glob("*.md")):
        meta = _front_matter(path)
        if "jupytext" in meta and "kernelspec" in meta:
            found[path.stem] = path
    return found


def convert(paths: dict[str, Path]) -> dict[str, Path]:
    """Write each chapter as an .ipynb (no outputs) for papermill and for nbval.

    Returns stem -> path of the plain conversion in SOURCE_DIR.
    """
    for folder in (SOURCE_DIR, NBVAL_DIR):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.ipynb"):
            stale.unlink()
    chdir = nbformat.v4.new_code_cell(
        f"import os\nos.chdir({str(BOOK)!r})  # added by tools/run_notebooks.py: cwd = book/"
    )
    out = {}
    for stem, path in paths.items():
        nb = jupytext.read(path)
        target = SOURCE_DIR / f"{stem}.ipynb"
        nbformat.write(nb, target)
        out[stem] = target
        nb.cells.insert(0, chdir)
        nbformat.write(nb, NBVAL_DIR / f"{stem}.ipynb")
    return out


def _parameters_cells(nb_path: Path) -> int:
    nb = nbformat.read(nb_path, as_version=4)
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", [])
    )


def _toc_files(node) -> set[str]:
    """Every `file:` (and `root:`) named anywhere in the parsed _toc.yml."""
    found = set()
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                found.add(Path(node[key]).with_suffix("").as_posix())
        for value in node.values():
            found |= _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found |= _toc_files(item)
    return found


def load_overrides(notebooks: dict[str, Path]) -> tuple[dict[str, dict], list[str]]:
    """Read book/_ci_parameters.yml and check it (and _toc.yml) against the chapters.

    Returns (overrides, errors).
    """
    errors = []
    if not CI_PARAMETERS.exists():
        return {}, [f"{CI_PARAMETERS.relative_to(ROOT)} is missing"]
    raw = yaml.safe_load(CI_PARAMETERS.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        return {}, [f"{CI_PARAMETERS.relative_to(ROOT)} must map chapter stem -> dict of overrides"]
    rel = CI_PARAMETERS.relative_to(ROOT)
    in_toc = _toc_files(yaml.safe_load(TOC.read_text(encoding="utf-8")))
    for stem in sorted(notebooks):
        if f"book/{stem}" not in in_toc:
            errors.append(
                f"chapter book/{stem}.md is not in _toc.yml, so the book would never build it"
            )
    for stem in sorted(set(notebooks) - set(raw)):
        errors.append(
            f"chapter book/{stem}.md has no entry in {rel}: add '{stem}:' with smaller sizes "
            "(or '{}' if it is already fast)"
        )
    for stem in sorted(set(raw) - set(notebooks)):
        errors.append(f"{rel} has an entry '{stem}' but there is no chapter book/{stem}.md")
    overrides = {}
    for stem, nb_path in notebooks.items():
        if stem not in raw:
            continue
        entry = raw[stem] if raw[stem] is not None else {}
        if not isinstance(entry, dict):
            errors.append(f"{rel}: entry '{stem}' must be a mapping of name -> value, got {entry!r}")
            continue
        n_cells = _parameters_cells(nb_path)
        if n_cells != 1:
            errors.append(
                f"book/{stem}.md has {n_cells} cells tagged 'parameters'; it needs exactly one"
            )
            continue
        known = set(papermill.inspect_notebook(str(nb_path)))
        for name in sorted(set(entry) - known):
            errors.append(
                f"{rel}: '{stem}.{name}' is not defined in the parameters cell of book/{stem}.md "
                f"(it defines: {', '.join(sorted(known)) or 'nothing'})"
            )
        overrides[stem] = entry
    return overrides, errors


def run(notebooks: dict[str, Path], overrides: dict[str, dict], only: list[str]) -> list[str]:
    """Execute each chapter with papermill; return a list of failure messages."""
    EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
    failures = []
    selected = only or sorted(notebooks)
    for stem in selected:
        if stem not in notebooks:
            failures.append(f"no chapter named {stem!r}")
            continue
        params = overrides.get(stem, {})
        target = EXECUTED_DIR / f"{stem}.ipynb"
        print(f"papermill {stem} {params}", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebooks[stem]),
                str(target),
                parameters=params,
                kernel_name=KERNEL,
                cwd=str(BOOK),
                progress_bar=False,
                execution_timeout=CELL_TIMEOUT,
            )
        except Exception as exc:  # papermill raises PapermillExecutionError with the traceback
            failures.append(f"{stem}: {type(exc).__name__}: {exc}")
            status = "FAILED"
        else:
            status = "ok"
        print(f"  {status} in {time.perf_counter() - start:.1f} s -> {target.relative_to(ROOT)}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["convert", "check", "run"])
    parser.add_argument("stems", nargs="*", help="chapters to run (default: all)")
    args = parser.parse_args(argv)

    sources = chapters()
    if not sources:
        print("no chapter notebooks (book/*.md with a jupytext header) found", file=sys.stderr)
        return 1
    notebooks = convert(sources)
    if args.command == "convert":
        print(f"converted {len(notebooks)} chapter(s) into {OUT.relative_to(ROOT)}/{{source,nbval}}/")
        return 0

    overrides, errors = load_overrides(notebooks)
    if errors:
        print("chapters, _toc.yml and book/_ci_parameters.yml disagree:", file=sys.stderr)
        for err in errors:
            print(f"  - {err}", file=sys.stderr)
        return 1
    if args.command == "check":
        print(f"_toc.yml and {CI_PARAMETERS.relative_to(ROOT)} cover all {len(notebooks)} chapter(s)")
        return 0

    failures = run(notebooks, overrides, args.stems)
    n_run = len(args.stems or notebooks)
    print(f"papermill: {n_run - len(failures)} passed, {len(failures)} failed")
    for failure in failures:
        print(f"  - {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
