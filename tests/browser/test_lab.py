"""JupyterLab as a teacher uses it: `make lab`, a real browser at 1280 x 720, the dashboard.

Run with `make test-lab` (part of `make test`). It needs Debian's chromium
(`apt-get install chromium`) and Playwright for Python (requirements.txt); the server is
`make lab`'s, on 127.0.0.1 with a token, stopped by its PID at the end. Skipped unless
MMLIB_TEST_LAB=1 (the make target sets it), so `pytest tests` stays quick.

What it checks, in one Lab session:
- a first start is quiet: the settings `make lab` installs turn the news prompt off;
- the dashboard chapter opens as a notebook and runs all its cells with no error output;
- at 1280 x 720 no two slider labels, tracks or readouts overlap, none is cut off, the
  readouts show their step's precision, and the sliders and the figure fit on the screen
  together;
- a key press on a slider changes the figure;
- the chapter, run and saved, is byte-for-byte what git has;
- a downloaded .ipynb (tools/ipynb_download.py) opens without an error dialog, while the same
  notebook with its jupytext pairing left in shows the error dialog the download used to
  cause (so the check can fail); untrusted, its live cell reads as a sentence, not
  `VBox(children=...`; once trusted, it shows the dashboard from the saved widget state
  before anything runs.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

if os.environ.get("MMLIB_TEST_LAB") != "1":
    pytest.skip("JupyterLab browser test: run `make test-lab` (sets MMLIB_TEST_LAB=1)",
                allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_fixtures import ROOT, VIEWPORT, LabServer, boxes_overlap, launch_chromium  # noqa: E402

CHAPTER = "book/dashboard.md"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the current tab
WORK = ROOT / "_build" / "lab_test"  # under the server's root, so Lab can open it


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def lab():
    server = LabServer().start()
    pid = server.proc.pid
    yield server
    server.stop()
    assert server.proc.poll() is not None, "the server outlived stop()"
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing of its process group is left


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def chapter_bytes():
    path = ROOT / CHAPTER
    before = path.stat()
    original = path.read_bytes()
    yield original
    if path.read_bytes() != original:  # never leave the work tree dirty
        path.write_bytes(original)
    # Lab's save rewrote the same bytes with a new mtime; put the old one back, so make does not
    # take the chapter for edited and rebuild the book (`make test` then `make book`).
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture(scope="module")
def dashboard(lab, browser, chapter_bytes):
    """The dashboard chapter opened in Lab and run to the end (one page for several tests)."""
    page = browser.new_page(viewport=VIEWPORT)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(lab.lab_url(CHAPTER, reset=True))
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=120_000)
    _wait_kernel_idle(lab)
    toast = page.locator(".Toastify__toast, .jp-Notification-Toast").all_inner_texts()
    page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    _wait_all_cells_ran(page, timeout=600)
    page.wait_for_selector("img.mmlib-dashboard-figure", timeout=60_000)
    yield {"page": page, "dialogs": dialogs, "toasts": toast}
    page.close()


def _wait_kernel_idle(lab, timeout=120):
    """Until the server has a kernel and every kernel is idle (REST API, not the DOM)."""
    deadline = time.monotonic() + timeout
    states = []
    while time.monotonic() < deadline:
        try:
            states = [k["execution_state"] for k in lab.api("GET", "/api/kernels")]
        except urllib.error.HTTPError as err:  # a 5xx while a kernel starts (seen under load)
            if err.code < 500:
                raise
            states = [f"HTTP {err.code}"]
        if states and all(s == "idle" for s in states):
            return
        time.sleep(0.5)
    raise AssertionError(f"kernels not idle after {timeout} s: {states}")


def _wait_all_cells_ran(page, timeout):
    """Until every code cell shows an execution count (none '[*]' or '[ ]'), folded ones aside."""
    js = """() => {
      const p = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
      return p.map(e => e.textContent.trim());
    }"""
    deadline = time.monotonic() + timeout
    prompts = []
    while time.monotonic() < deadline:
        prompts = [t for t in page.evaluate(js) if t]  # a folded cell shows no prompt
        if prompts and all(t.startswith("[") and t[1:-2].strip().isdigit() for t in prompts):
            return prompts
        time.sleep(1.0)
    raise AssertionError(f"cells still running or not run after {timeout} s: {prompts}")


def test_first_start_is_quiet(lab, dashboard):
    settings = lab.api("GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification")
    # `make lab` installs overrides.json; the server applies it as the schema's defaults
    props = settings["schema"]["properties"]
    assert settings["settings"].get("fetchNews", props["fetchNews"]["default"]) == "false"
    assert settings["settings"].get("checkForUpdates", props["checkForUpdates"]["default"]) is False
    assert not any("news" in t.lower() for t in dashboard["toasts"]), dashboard["toasts"]
    page = dashboard["page"]
    assert page.locator(".jp-Dialog").count() == 0
    assert "notified about official Jupyter news" not in page.inner_text("body")


def test_dashboard_chapter_runs_all_cells_without_error_output(dashboard):
    page = dashboard["page"]
    bad = page.locator(f"{PANEL} .jp-OutputArea-output"
                       "[data-mime-type='application/vnd.jupyter.stderr'],"
                       f"{PANEL} .jp-OutputArea-output"
                       "[data-mime-type='application/vnd.jupyter.error']")
    assert bad.count() == 0, bad.all_inner_texts()[:3]
    assert page.locator(".jp-Dialog").count() == 0 and not dashboard["dialogs"]
    # the live panel opened at the chapter's defaults
    readouts = page.locator(".mmlib-dashboard-sliders .widget-readout").all_inner_texts()
    assert readouts == ["1.0", "1.5", "0.010", "0.10", "10.0", "20", "0.5", "0.0"], readouts


def _boxes(page, selector):
    loc = page.locator(selector)
    return [loc.nth(i).bounding_box() for i in range(loc.count())]


def test_slider_labels_and_readouts_fit_1280x720_without_overlap(dashboard):
    page = dashboard["page"]
    grid = page.locator(".mmlib-dashboard-sliders").first
    grid.scroll_into_view_if_needed()
    sel = ".mmlib-dashboard-sliders"
    labels = _boxes(page, f"{sel} .widget-label")
    readouts = _boxes(page, f"{sel} .widget-readout")
    tracks = _boxes(page, f"{sel} .slider-container")
    assert len(labels) == len(readouts) == len(tracks) == 8
    items = labels + readouts + tracks
    for i, a in enumerate(items):
        assert a["width"] > 0 and a["x"] >= 0 and a["x"] + a["width"] <= VIEWPORT["width"], a
        for b in items[i + 1:]:
            assert not boxes_overlap(a, b), (a, b)
    # no text cut off (an ellipsis included): the laid-out text is no wider than its box
    cut = page.evaluate(f"""() => [...document.querySelectorAll(
        '{sel} .widget-label, {sel} .widget-readout')].filter(e => {{
          const r = document.createRange(); r.selectNodeContents(e);
          return r.getBoundingClientRect().width > e.getBoundingClientRect().width + 0.5
                 || e.scrollWidth > e.clientWidth + 1;
        }}).map(e => e.textContent)""")
    assert cut == [], f"cut off: {cut}"
    # sliders, status line and figure are on the screen at once
    top = grid.bounding_box()["y"]
    img = page.locator("img.mmlib-dashboard-figure").first.bounding_box()
    panel = page.locator(f"{PANEL} .jp-Notebook").first.bounding_box()
    height = img["y"] + img["height"] - top
    assert height <= panel["height"], (height, panel)
    assert img["width"] <= VIEWPORT["width"] and img["height"] > 200


def test_a_key_press_on_a_slider_changes_the_figure(dashboard):
    page = dashboard["page"]
    img = page.locator("img.mmlib-dashboard-figure").first
    img.scroll_into_view_if_needed()
    before_src, before_px = img.get_attribute("src"), img.screenshot()
    gamma = page.locator(".mmlib-dashboard-sliders .widget-slider").nth(3)
    assert "γ" in gamma.inner_text()
    gamma.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "src => document.querySelector('img.mmlib-dashboard-figure').src !== src",
        arg=before_src, timeout=60_000)
    assert gamma.locator(".widget-readout").inner_text() == "0.11"
    page.wait_for_function("() => !document.querySelector('.mmlib-busy')", timeout=60_000)
    assert img.screenshot() != before_px
    # and back, so the saved chapter test below sees the panel at rest
    gamma.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => !document.querySelector('.mmlib-busy')", timeout=60_000)


def test_run_and_saved_chapter_is_unchanged(dashboard, chapter_bytes):
    page = dashboard["page"]
    page.locator(f"{PANEL} .jp-Cell").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for the save to land (the tab loses its dot)
        if page.locator(".jp-mod-current.jp-mod-dirty, .lm-TabBar-tab.jp-mod-current.jp-mod-dirty"
                        ).count() == 0:
            break
        time.sleep(0.5)
    time.sleep(1.0)
    saved = (ROOT / CHAPTER).read_bytes()
    assert saved == chapter_bytes, "saving the run chapter in Lab changed it"


def _download(tmp: Path) -> tuple[Path, Path]:
    """The chapter's download as the book build makes it, and the same with pairing left in."""
    built = ROOT / "_build" / "html" / "_sources" / "book" / "dashboard.ipynb"
    executed = ROOT / "_build" / "jupyter_execute" / "book" / "dashboard.ipynb"
    if not executed.is_file():
        executed = ROOT / "_build" / "ci_notebooks" / "papermill" / "dashboard.ipynb"
        subprocess.run([sys.executable, "tools/run_notebooks.py", "run", "dashboard"],
                       cwd=ROOT, check=True, timeout=900)
    tool = _load_tool("ipynb_download")
    tmp.mkdir(parents=True, exist_ok=True)
    clean = tool.write_download(executed, tmp / "dashboard.ipynb")
    raw = tmp / "dashboard_paired.ipynb"
    nb = json.loads(executed.read_text(encoding="utf-8"))
    nb.setdefault("metadata", {})["jupytext"] = {"formats": "md:myst"}
    raw.write_text(json.dumps(nb), encoding="utf-8")
    if built.is_file():  # a book was built: what it offers must be clean too
        assert "jupytext" not in json.loads(built.read_text(encoding="utf-8"))["metadata"]
    return clean, raw


def _open(page, lab, path: Path):
    rel = path.relative_to(ROOT).as_posix()
    page.goto(lab.lab_url(rel, reset=True))  # a fresh workspace: only this file open
    page.locator(f"{PANEL}, .jp-Dialog").first.wait_for(timeout=120_000)
    time.sleep(3.0)  # an error dialog comes after the panel starts loading


def test_downloaded_notebook_opens_without_error_dialog(lab, browser):
    folder = WORK / "downloads"
    shutil.rmtree(folder, ignore_errors=True)
    clean, raw = _download(folder)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _open(page, lab, raw)  # the control: what the download did before
        dialog = page.locator(".jp-Dialog")
        assert dialog.count() == 1 and "paired" in dialog.inner_text().lower()
        _open(page, lab, clean)
        page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=120_000)
        time.sleep(2.0)
        assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_inner_texts()
        # untrusted (as every download is), Lab shows the widget's text, which says what to do
        text = page.inner_text(PANEL)
        assert "VBox(children" not in text and "run the notebook's cells" in text
        # trusted, before any run: the saved widget state shows the picture and the sliders
        lab.trust(clean)
        _open(page, lab, clean)
        page.wait_for_selector("img.mmlib-dashboard-figure", timeout=60_000)
        assert page.locator(".mmlib-dashboard-sliders .widget-slider").count() == 8
        assert page.locator(".jp-Dialog").count() == 0
    finally:
        page.close()
        shutil.rmtree(folder, ignore_errors=True)
