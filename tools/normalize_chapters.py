#!/usr/bin/env python3
"""Rewrite the book's chapters in jupytext's own round-trip form, solutions hidden in Lab.

Usage (from the repository root, inside .venv):

    python tools/normalize_chapters.py            # rewrite every chapter that needs it
    python tools/normalize_chapters.py hjb pipeline
    python tools/normalize_chapters.py --check    # change nothing; exit 1 if any would change

Why: JupyterLab (`make lab`) opens a chapter through jupytext and, on save or autosave,
writes it back with `jupytext.writes`. A file that is not already in that form changes on
the first save (for example, jupytext re-wraps long figure captions in cell metadata), and a
reader's git checkout is dirty after reading. A chapter in round-trip form is written back
byte for byte; `tests/test_roundtrip.py` checks every chapter.

Two rewrites, both made on the jupytext notebook and then written with jupytext:

1. **Solutions hidden in JupyterLab.** Lab does not run sphinx-exercise's dropdowns, so
   every cell from a ```` ```{solution-start} ```` fence to its ```` ```{solution-end} ````
   fence gets the cell metadata Lab understands: ``jupyter.source_hidden`` (and, for code,
   ``jupyter.outputs_hidden``). Lab shows such a cell collapsed, as a bar to click. A
   Markdown cell that holds other text before the start fence or after the end fence is
   split there, so only the solution collapses. The book build ignores this metadata.
2. **Round-trip form**: the text `jupytext.writes(jupytext.reads(text))` gives, repeated
   until it no longer changes.

A chapter is a `book/*.md` file whose front matter has `jupytext` and `kernelspec` (the same
rule as tools/run_notebooks.py); plain pages are left alone.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
FMT = "md:myst"

_START = re.compile(r"^```\{solution-start\}", re.M)
_END = re.compile(r"^```\{solution-end\}[^\n]*\n(?:[^\n]*\n)*?```[ \t]*$", re.M)


def chapters() -> dict[str, Path]:
    """Map stem -> path of every book/*.md with a jupytext header and a kernelspec."""
    found = {}
    for path in sorted(BOOK.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if text.startswith("---\n"):
            head = text[4:text.find("\n---", 4)]
            if re.search(r"^jupytext:", head, re.M) and re.search(r"^kernelspec:", head, re.M):
                found[path.stem] = path
    return found


def round_trip(text: str) -> str:
    """What jupytext writes back after reading ``text`` (JupyterLab's open-then-save)."""
    return jupytext.writes(jupytext.reads(text, fmt=FMT), fmt=FMT)


def _split_markdown(cell, cut: int):
    """Two Markdown cells from one, cut at character ``cut`` (blank lines trimmed)."""
    a, b = cell.source[:cut].rstrip("\n"), cell.source[cut:].lstrip("\n")
    first = nbformat.v4.new_markdown_cell(a, metadata=dict(cell.metadata))
    second = nbformat.v4.new_markdown_cell(b, metadata=dict(cell.metadata))
    return [c for c in (first, second) if c.source.strip()]


def _hide(cell) -> None:
    meta = cell.metadata.setdefault("jupyter", {})
    meta["source_hidden"] = True
    if cell.cell_type == "code":
        meta["outputs_hidden"] = True


def hide_solutions(nb) -> int:
    """Mark every cell of every solution hidden in Lab; return the number of solutions."""
    # 1. split Markdown cells at start fences and after end fences
    cells = []
    for cell in nb.cells:
        pending = [cell]
        while pending:
            c = pending.pop(0)
            if c.cell_type != "markdown":
                cells.append(c)
                continue
            cuts = [m.start() for m in _START.finditer(c.source)]
            cuts += [m.end() for m in _END.finditer(c.source)]
            cuts = sorted(k for k in cuts if c.source[:k].strip() and c.source[k:].strip())
            if not cuts:
                cells.append(c)
                continue
            parts = _split_markdown(c, cuts[0])
            cells.append(parts[0])
            pending = parts[1:] + pending
    nb.cells = cells
    # 2. hide what lies between the fences, fences included
    inside, count = False, 0
    for cell in nb.cells:
        starts = cell.cell_type == "markdown" and _START.search(cell.source)
        if starts:
            inside, count = True, count + 1
        if inside:
            _hide(cell)
        if cell.cell_type == "markdown" and _END.search(cell.source):
            inside = False
    return count


def normalize(text: str) -> str:
    """The chapter ``text`` with solutions hidden in Lab, in jupytext's round-trip form."""
    nb = jupytext.reads(text, fmt=FMT)
    hide_solutions(nb)
    out = jupytext.writes(nb, fmt=FMT)
    for _ in range(5):
        again = round_trip(out)
        if again == out:
            return out
        out = again
    raise RuntimeError("jupytext's round trip did not settle after 5 passes")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stems", nargs="*", help="chapter stems (default: every chapter)")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    args = ap.parse_args(argv)
    found = chapters()
    unknown = [s for s in args.stems if s not in found]
    if unknown:
        ap.error(f"not a chapter: {unknown}; chapters are {sorted(found)}")
    todo = {s: found[s] for s in (args.stems or found)}
    changed = []
    for stem, path in todo.items():
        text = path.read_text(encoding="utf-8")
        new = normalize(text)
        if new != text:
            changed.append(stem)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    verb = "would change" if args.check else "rewrote"
    print(f"{verb} {len(changed)} of {len(todo)} chapters" + (f": {changed}" if changed else ""))
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
