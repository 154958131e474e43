#!/usr/bin/env python3
"""Rewrite the book's chapters in jupytext's own round-trip form, solution code hidden in Lab.

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

1. **Solution code hidden in JupyterLab.** `make lab` renders MyST with jupyterlab-myst,
   which shows a ```` ```{solution-start} ```` with ``:class: dropdown`` as a closed
   dropdown, but cannot fold the code cells that follow it (each cell is rendered on its own).
   So every code cell between a ```` ```{solution-start} ```` fence and its
   ```` ```{solution-end} ```` fence gets ``jupyter.source_hidden: true``, the cell metadata
   Lab understands: it shows the cell folded, as a bar to click. Lab keeps this flag when it
   runs and saves the cell. (Not ``outputs_hidden``: Lab clears that when it runs a cell, so a
   saved chapter would change; a chapter has no outputs in git anyway.) The book build
   ignores this metadata.
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

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
FMT = "md:myst"

_START = re.compile(r"^```\{solution-start\}", re.M)
_END = re.compile(r"^```\{solution-end\}", re.M)


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


def hide_solutions(nb) -> int:
    """Mark every code cell inside a solution hidden in Lab; return the number of solutions."""
    inside, count = False, 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # a Markdown cell may close one solution and open the next: the last fence wins
            fences = [(m.start(), True) for m in _START.finditer(cell.source)]
            fences += [(m.start(), False) for m in _END.finditer(cell.source)]
            count += sum(1 for _, opens in fences if opens)
            if fences:
                inside = max(fences)[1]
        elif inside and cell.cell_type == "code":
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
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
