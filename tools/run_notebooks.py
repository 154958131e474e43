#!/usr/bin/env python3
"""Convert the book's MyST chapters to notebooks and smoke-run them with papermill.

Usage (from the repository root, inside .venv; `make test` runs `nbval`):

    python tools/run_notebooks.py convert           # book/*.md -> _build/ci_notebooks/{source,nbval}/
    python tools/run_notebooks.py check             # check _toc.yml and _ci_parameters.yml, run nothing
    python tools/run_notebooks.py nbval [STEM ...]  # nbval, cell by cell, on the CI-size notebooks
    python tools/run_notebooks.py run [STEM ...]    # papermill with the CI overrides (one chapter by hand)
    python tools/run_notebooks.py book-times LOG    # per-chapter times from a book-build log

A chapter is a `book/*.md` file whose YAML front matter has a `jupytext` header and a
`kernelspec`; plain pages (intro, references, status) are skipped. Converted notebooks go to
`_build/ci_notebooks/`, never into `book/`: `source/` holds the plain conversions (papermill's
input) and `nbval/` the same notebooks at CI size: the overrides of `book/_ci_parameters.yml`
injected after the `parameters` cell by papermill's own parameterizer (what `papermill
--prepare-only` writes, without executing), and one leading cell that changes the kernel's cwd
to `book/`, because nbval starts its kernel in the notebook's own folder and has no option to
change it. `make test` executes each chapter once, at CI size, through nbval (`--nbval-lax`: one
pytest item per cell, any error fails, outputs are not compared); only the book build executes
the chapters at full size. `run` executes them through papermill instead and saves the executed
notebooks in `_build/ci_notebooks/papermill/` (for a helper checking one chapter; the Lab test's
fallback when no book is built).

Every command that executes runs each chapter in a child process of its own (and its own
process group: the kernel goes with it), prints each chapter's wall time and a table at the end.
A chapter that runs longer than `--max-seconds` (default 180 s; a chapter takes under 30 s at CI
size) is stopped and reported as hung, instead of waiting: a kernel that stops answering (a lost
message, both sides idle in epoll_wait) then fails the run in minutes with the chapter's name.
Such a stall was seen once in `run` (issue 11): dashboard.md at `display(dash.widget())`, the
cell still "running", kernel and papermill both idle in epoll_wait, no bytes queued on any of
the kernel's sockets. `--retry-hung N` re-runs a hung chapter up to N times (reported loudly);
the default is 0, so a hang fails the run. Invocations take a lock on `_build/ci_notebooks/`, so
two at once (make -j, or `run` beside `make test`) wait for each other instead of clobbering.

Both `run` and `nbval` inject the overrides from `book/_ci_parameters.yml` into each chapter's
`parameters` cell and execute it with kernel `python3`, cwd = `book/` (the same cwd as the book
build). They fail if a chapter has no entry in that file, if an entry names no chapter, if an
override names a variable that the chapter's parameters cell does not define, if a chapter has
not exactly one `parameters` cell, or if a chapter is missing from `_toc.yml`.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from papermill.parameterize import parameterize_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_ipc  # noqa: E402  (tools/kernel_ipc.py)
import kernel_wakeup  # noqa: E402  (tools/kernel_wakeup.py)

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
MAX_SECONDS = 180  # seconds per chapter at CI size (each takes under 30 s) before it is stopped as hung


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
    """Write each chapter as an .ipynb (no outputs) for papermill.

    Returns stem -> path of the plain conversion in SOURCE_DIR.
    """
    SOURCE_DIR.mkdir(parents=True, exist_ok=True)
    for stale in SOURCE_DIR.glob("*.ipynb"):
        stale.unlink()
    out = {}
    for stem, path in paths.items():
        target = SOURCE_DIR / f"{stem}.ipynb"
        nbformat.write(jupytext.read(path), target)
        out[stem] = target
    return out


def write_nbval(notebooks: dict[str, Path], overrides: dict[str, dict]) -> dict[str, Path]:
    """The nbval copies: CI overrides injected (as papermill does) and cwd = book/ first.

    Returns stem -> path in NBVAL_DIR.
    """
    NBVAL_DIR.mkdir(parents=True, exist_ok=True)
    for stale in NBVAL_DIR.glob("*.ipynb"):
        stale.unlink()
    chdir = nbformat.v4.new_code_cell(
        f"import os\nos.chdir({str(BOOK)!r})  # added by tools/run_notebooks.py: cwd = book/"
    )
    out = {}
    for stem, path in notebooks.items():
        nb = nbformat.read(path, as_version=4)
        params = overrides.get(stem) or {}
        if params:
            for cell in nb.cells:  # papermill expects every cell to carry a tags list
                cell.metadata.setdefault("tags", [])
            nb.metadata.setdefault("papermill", {})
            nb = parameterize_notebook(nb, params, kernel_name=KERNEL, language="python")
        nb.cells.insert(0, chdir)
        target = NBVAL_DIR / f"{stem}.ipynb"
        nbformat.write(nb, target)
        out[stem] = target
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


def _print_table(title: str, rows: list[tuple[str, float, str]]) -> None:
    """Per-chapter wall times, slowest first, and their total."""
    print(f"=== {title}: wall time per chapter ===")
    for stem, seconds, status in sorted(rows, key=lambda r: -r[1]):
        print(f"  {stem:24s} {seconds:7.1f} s  {status}")
    print(f"  {'total':24s} {sum(r[1] for r in rows):7.1f} s")


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a child started with start_new_session=True and everything it started (its kernel)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _run_bounded(cmd: list[str], max_seconds: float) -> tuple[int | None, float]:
    """Run cmd in its own process group; kill the group after max_seconds.

    Returns (exit code or None if it was stopped, wall seconds). Output goes straight through.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    try:
        rc = proc.wait(timeout=max_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        rc = None
    except BaseException:
        _kill_group(proc)
        raise
    return rc, time.perf_counter() - start


def _execute_one(stem: str, source: str, params: dict) -> int:
    """Worker: papermill one chapter (run in a child process by `run`)."""
    target = EXECUTED_DIR / f"{stem}.ipynb"
    try:
        papermill.execute_notebook(
            source,
            str(target),
            parameters=params,
            kernel_name=KERNEL,
            cwd=str(BOOK),
            progress_bar=False,
            execution_timeout=CELL_TIMEOUT,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the traceback
        print(f"{stem}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def run(notebooks: dict[str, Path], overrides: dict[str, dict], only: list[str],
        max_seconds: float = MAX_SECONDS, retry_hung: int = 0) -> list[str]:
    """Execute each chapter with papermill, each in a child process bounded by max_seconds.

    Returns a list of failure messages and prints each chapter's wall time.
    """
    EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
    failures, rows = [], []
    selected = only or sorted(notebooks)
    for stem in selected:
        if stem not in notebooks:
            failures.append(f"no chapter named {stem!r}")
            continue
        params = overrides.get(stem, {})
        target = EXECUTED_DIR / f"{stem}.ipynb"
        print(f"papermill {stem} {params}", flush=True)
        cmd = [sys.executable, __file__, "_execute", stem, str(notebooks[stem]), json.dumps(params)]
        rc, seconds = _run_bounded(cmd, max_seconds)
        hangs = 0
        while rc is None and hangs < retry_hung:
            hangs += 1
            print(f"  HUNG: {stem} still running after {max_seconds:g} s; stopped, retry "
                  f"{hangs} of {retry_hung} (--retry-hung)", flush=True)
            rc, seconds = _run_bounded(cmd, max_seconds)
        if rc is None:
            status = f"HUNG: stopped after {max_seconds:g} s"
            failures.append(
                f"{stem}: still running after {max_seconds:g} s (--max-seconds) and stopped; a "
                "chapter takes well under a minute at CI size, so the kernel or the client "
                f"stopped answering. papermill's last save of it is {target.relative_to(ROOT)}"
            )
        elif rc:
            status = "FAILED"
            failures.append(f"{stem}: failed (traceback above)")
        else:
            status = "ok" if not hangs else f"ok after {hangs} hung run(s) stopped and retried"
        rows.append((stem, seconds, status))
        print(f"  {status} in {seconds:.1f} s -> {target.relative_to(ROOT)}", flush=True)
    _print_table("papermill (CI size)", rows)
    return failures


class _Progress:
    """pytest plugin (in the nbval child): one line per chapter start and end, to a file.

    Lines are ``start STEM TIME`` and ``end STEM ok|FAILED TIME`` (TIME: seconds since the
    epoch), flushed at once, so the parent sees
    which chapter is running and for how long, and can stop the session if one hangs.
    """

    def __init__(self, path: str):
        self.out = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (lives as long as pytest)
        self.left: dict[str, int] = {}
        self.failed: dict[str, bool] = {}

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def pytest_collection_modifyitems(self, items):
        for item in items:
            stem = Path(str(item.path)).stem
            self.left[stem] = self.left.get(stem, 0) + 1

    def pytest_runtest_logstart(self, nodeid, location):
        stem = Path(nodeid.split("::")[0]).stem
        if stem not in self.failed:
            self.failed[stem] = False
            self._write(f"start {stem} {time.time():.3f}")

    def pytest_runtest_logreport(self, report):
        stem = Path(report.nodeid.split("::")[0]).stem
        self.failed[stem] = self.failed.get(stem, False) or report.failed
        if report.when == "teardown":
            self.left[stem] -= 1
            if self.left[stem] == 0:
                self._write(f"end {stem} {'FAILED' if self.failed[stem] else 'ok'} {time.time():.3f}")


def _nbval_session(progress: str, cell_timeout: int, paths: list[str]) -> int:
    """Worker: nbval (--nbval-lax) on CI-size notebooks in one pytest session (run by `nbval`)."""
    import pytest

    args = ["--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout}",
            "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest",
            "-q", "--no-header",
            # papermill (imported above) has already imported anyio: nothing to rewrite there
            "-W", "ignore::pytest.PytestAssertRewriteWarning", *paths]
    return int(pytest.main(args, plugins=[_Progress(progress)]))


def _read_progress(path: Path, clock: dict[str, list[float]], status: dict[str, str]) -> str | None:
    """Fold new lines of the progress file into clock (start, end) and status; the running stem."""
    running = None
    for line in path.read_text(encoding="utf-8").splitlines():
        word, stem, *rest = line.split()
        if word == "start":
            clock[stem] = [float(rest[0]), None]
            running = stem
        elif word == "end":
            clock[stem][1] = float(rest[1])
            status[stem] = rest[0]
            running = None
    return running


def nbval(paths: dict[str, Path], max_seconds: float = MAX_SECONDS, retry_hung: int = 0) -> list[str]:
    """nbval (--nbval-lax) on the CI-size notebooks: the one execution of each chapter in `make test`.

    The chapters run in one pytest session (one start-up of pytest, nbval and their imports), in
    a child process with its own process group, watched from here: a chapter still running after
    max_seconds is stopped with the whole session (its kernel included) and reported as hung; it
    is re-run up to retry_hung times, and the chapters not yet run go on in a new session.
    Returns a list of failure messages and prints each chapter's wall time.
    """
    cell_timeout = int(min(CELL_TIMEOUT, max_seconds))
    progress = OUT / "nbval-progress.txt"
    order = list(paths)
    clock: dict[str, list[float]] = {}  # stem -> [start, end], seconds since the epoch
    status: dict[str, str] = {}  # stem -> ok | FAILED | HUNG... once decided
    hangs: dict[str, int] = {}
    failures = []
    while True:
        todo = [stem for stem in order if stem not in status]
        if not todo:
            break
        progress.write_text("", encoding="utf-8")
        seen: dict[str, list[float]] = {}
        done: dict[str, str] = {}
        print(f"nbval: {len(todo)} chapter(s) in one session: {' '.join(todo)}", flush=True)
        cmd = [sys.executable, __file__, "_nbval", str(progress), str(cell_timeout),
               *(str(paths[stem]) for stem in todo)]
        proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
        hung = None
        try:
            while proc.poll() is None:
                try:
                    proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    pass
                running = _read_progress(progress, seen, done)
                if running and time.time() - seen[running][0] > max_seconds:
                    hung = running
                    _kill_group(proc)
                    break
        except BaseException:
            _kill_group(proc)
            raise
        _read_progress(progress, seen, done)
        for stem, (t0, t1) in seen.items():
            clock[stem] = [t0, t1 if t1 is not None else time.time()]
        status.update(done)
        if hung is not None:
            hangs[hung] = hangs.get(hung, 0) + 1
            if hangs[hung] <= retry_hung:
                print(f"\n  HUNG: {hung} still running after {max_seconds:g} s; session stopped, "
                      f"retry {hangs[hung]} of {retry_hung} (--retry-hung)", flush=True)
                continue
            status[hung] = f"HUNG: stopped after {max_seconds:g} s"
            failures.append(
                f"{hung}: still running after {max_seconds:g} s (--max-seconds) and stopped; a "
                "chapter takes well under a minute at CI size, so the kernel or the client "
                "stopped answering. The cells that passed are listed above; the next one hung")
            continue
        # The session ended by itself: a chapter it never finished did not run (a collection
        # error, pytest stopped); say so rather than count it as passed.
        for stem in todo:
            if stem not in status:
                status[stem] = f"FAILED: not run (pytest exit {proc.returncode}, see above)"
        break
    rows = []
    for stem in order:
        st = status[stem]
        if st == "ok" and hangs.get(stem):
            st = f"ok after {hangs[stem]} hung run(s) stopped and retried"
        elif st == "FAILED":
            failures.append(f"{stem}: a cell failed (nbval's report above: the cell, its source "
                            f"and traceback); notebook {paths[stem].relative_to(ROOT)}")
        elif st.startswith("FAILED:"):
            failures.append(f"{stem}: {st[len('FAILED: '):]}")
        t0, t1 = clock.get(stem, [0.0, 0.0])
        rows.append((stem, t1 - t0, st))
    _print_table("nbval (CI size)", rows)
    return failures


_EXECUTING = re.compile(r"(?P<path>\S+?\.(?:md|ipynb)): Executing notebook")
_EXECUTED = re.compile(r"(?P<path>\S+?\.(?:md|ipynb)): Executed notebook in (?P<sec>[0-9.]+) seconds")


def book_times(log: Path) -> int:
    """Print the per-chapter execution times myst-nb logged during a book build."""
    text = log.read_text(encoding="utf-8", errors="replace")
    rows = [(Path(m["path"]).stem, float(m["sec"]), "ok") for m in _EXECUTED.finditer(text)]
    started = {Path(m["path"]).stem for m in _EXECUTING.finditer(text)}
    for stem in sorted(started - {r[0] for r in rows}):
        rows.append((stem, float("nan"), "started, no 'Executed' line (failed or hung)"))
    _print_table("book build (full size)", rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    kernel_wakeup.install()  # papermill's notebook client never sleeps through a reply
    kernel_ipc.install()  # and its kernels take no TCP ports (papermill's, nbval's)
    if argv[:1] == ["_execute"]:  # internal: one chapter in a child process
        stem, source, params = argv[1:4]
        return _execute_one(stem, source, json.loads(params))
    if argv[:1] == ["_nbval"]:  # internal: the nbval session in a child process
        return _nbval_session(argv[1], int(argv[2]), argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["convert", "check", "run", "nbval", "book-times"])
    parser.add_argument("stems", nargs="*",
                        help="chapters to run (default: all); for book-times, the log file")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS,
                        help=f"wall-clock limit per chapter (default {MAX_SECONDS} s)")
    parser.add_argument("--retry-hung", type=int, default=0,
                        help="re-run a chapter stopped as hung up to this many times (default 0)")
    args = parser.parse_args(argv)
    if args.command == "book-times":
        if len(args.stems) != 1:
            parser.error("book-times needs exactly one log file")
        return book_times(Path(args.stems[0]))
    # One invocation at a time rewrites and runs _build/ci_notebooks (make -j, or a developer's
    # `run` beside `make test`): a second one waits here instead of deleting the first's files.
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _main_locked(args)


def _main_locked(args: argparse.Namespace) -> int:
    sources = chapters()
    if not sources:
        print("no chapter notebooks (book/*.md with a jupytext header) found", file=sys.stderr)
        return 1
    notebooks = convert(sources)
    overrides, errors = load_overrides(notebooks)
    if errors:
        print("chapters, _toc.yml and book/_ci_parameters.yml disagree:", file=sys.stderr)
        for err in errors:
            print(f"  - {err}", file=sys.stderr)
        return 1
    nbval_paths = write_nbval(notebooks, overrides)
    if args.command == "convert":
        print(f"converted {len(notebooks)} chapter(s) into {OUT.relative_to(ROOT)}/{{source,nbval}}/"
              " (nbval copies at CI size)")
        return 0
    if args.command == "check":
        print(f"_toc.yml and {CI_PARAMETERS.relative_to(ROOT)} cover all {len(notebooks)} chapter(s)")
        return 0
    unknown = sorted(set(args.stems) - set(notebooks))
    if unknown:
        print(f"no chapter named {', '.join(unknown)}", file=sys.stderr)
        return 1
    selected = args.stems or sorted(notebooks)
    if args.command == "nbval":
        failures = nbval({s: nbval_paths[s] for s in selected}, args.max_seconds, args.retry_hung)
    else:
        failures = run(notebooks, overrides, args.stems, args.max_seconds, args.retry_hung)
    print(f"{args.command}: {len(selected) - len(failures)} chapter(s) passed, "
          f"{len(failures)} failed")
    for failure in failures:
        print(f"  - {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
