"""The dashboard in JupyterLab, as a teacher meets it: key press to new picture, in a real browser.

Run: .venv/bin/python benchmarks/bench_lab.py [--repeat 3]   (needs `make chromium`; ~2 min)

Issue 11 timed the dashboard this way before the solver and the figure were rebuilt (1.3 s for
one step of gamma, 59.9 s for gamma to its maximum). This script repeats that measurement on
today's code: `make lab`'s server (tests/browser/lab_fixtures.py) on 127.0.0.1, Debian's
chromium through Playwright at 1280 x 720, the chapter `book/dashboard.md` run from the Run
menu, then key presses on the live panel's sliders. A *move* runs from the key press (a
``keydown`` listener in the page, capture phase) to the moment the browser has the new picture
(a ``MutationObserver`` on the figure's ``src``), both read from the page's own clock
(``performance.now()``), so the kernel's solve and drawing, the widget messages both ways and
the browser's handling are all inside it. Prints figures; asserts nothing.

1. One step of each slider, up and back, at the defaults (``--repeat`` times): median and max.
2. A burst of five quick presses (40 ms apart) on gamma: from the last press to the last new
   picture, and how many pictures arrived (the debounce should give one or two).
3. A walk to the slowest corner of the slider box (A=0.2, k=3, eta=0.1, gamma=0.5, T=20,
   x_max=30, mu0=10) by Home/End presses, each press one move, then one step of each slider
   there.

The in-kernel figure for the same moves is ``bench_dashboard.py``'s; the difference between
the two is the widget round trip and the browser.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from lab_fixtures import VIEWPORT, LabServer, launch_chromium  # noqa: E402

CHAPTER = "book/dashboard.md"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
IMG = "img.mmlib-dashboard-figure"
ORDER = ("A", "k", "eta", "gamma", "T", "x_max", "eps", "mu0")  # the panel's slider order

RECORDER = """() => {
  window.__keys = []; window.__pics = []; window.__dims = [];
  document.addEventListener('keydown', () => window.__keys.push(performance.now()), true);
  const img = document.querySelector('%s');
  new MutationObserver(() => window.__pics.push(performance.now()))
      .observe(img, {attributes: true, attributeFilter: ['src']});
  const frame = img.parentElement;  // DashboardWidget.frame: dimmed while a move is pending
  new MutationObserver(() => {
    if (frame.classList.contains('mmlib-busy')) window.__dims.push(performance.now());
  }).observe(frame, {attributes: true, attributeFilter: ['class']});
}""" % IMG


def open_dashboard(lab, browser):
    """The chapter opened in Lab, every cell run; returns the page."""
    page = browser.new_page(viewport=VIEWPORT)
    page.on("dialog", lambda d: d.dismiss())
    page.goto(lab.lab_url(CHAPTER, reset=True))
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=120_000)
    deadline = time.monotonic() + 120
    while not [k for k in lab.api("GET", "/api/kernels") if k["execution_state"] == "idle"]:
        if time.monotonic() > deadline:
            raise TimeoutError("no idle kernel within 120 s")
        time.sleep(0.5)
    page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    page.wait_for_selector(IMG, timeout=600_000)
    # the live panel is the chapter's last figure; wait for the run to finish behind it
    page.wait_for_function(
        """() => [...document.querySelectorAll('%s .jp-CodeCell .jp-InputPrompt')]
                 .map(e => e.textContent.trim()).filter(t => t)
                 .every(t => /^\\[\\s*\\d+\\]/.test(t))""" % PANEL,
        timeout=600_000, polling=1000)
    page.locator(IMG).first.scroll_into_view_if_needed()
    page.evaluate(RECORDER)
    return page


def handle(page, key):
    return page.locator(".mmlib-dashboard-sliders .widget-slider").nth(ORDER.index(key)) \
               .locator(".noUi-handle").first


def readout(page, key):
    return page.locator(".mmlib-dashboard-sliders .widget-slider").nth(ORDER.index(key)) \
               .locator(".widget-readout").inner_text()


def move(page, key, presses, gap_ms=0, settle_s=0.3, timeout_s=120.0):
    """Press ``presses`` (a list of key names) on slider ``key``; wait until a new picture has
    arrived and the panel is idle for ``settle_s``. Returns (ms from the last press to the last
    new picture, number of new pictures, ms from the first press to the dimmed picture)."""
    h = handle(page, key)
    h.focus()
    n_pics, n_keys, n_dims = page.evaluate(
        "[window.__pics.length, window.__keys.length, window.__dims.length]")
    for i, name in enumerate(presses):
        if i and gap_ms:
            page.wait_for_timeout(gap_ms)
        page.keyboard.press(name)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    last = (n_pics, True)
    while time.monotonic() < deadline:
        state = tuple(page.evaluate(
            "[window.__pics.length, !!document.querySelector('.mmlib-busy')]"))
        if state[0] > n_pics and not state[1]:
            if state != last or quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle_s:
                break
        else:
            quiet_since = None
        last = state
        time.sleep(0.02)
    else:
        raise TimeoutError(f"no new picture within {timeout_s:g} s after {presses} on {key}")
    keys, pics, dims = page.evaluate("[window.__keys, window.__pics, window.__dims]")
    new = pics[n_pics:]
    dim = dims[n_dims] - keys[n_keys] if len(dims) > n_dims else float("nan")
    return new[-1] - keys[-1], len(new), dim


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    path = ROOT / CHAPTER
    before, original = path.stat(), path.read_bytes()
    lab = LabServer().start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            t0 = time.perf_counter()
            page = open_dashboard(lab, browser)
            print(f"JupyterLab, chromium {browser.version}, {VIEWPORT['width']} x "
                  f"{VIEWPORT['height']}; chapter run in {time.perf_counter() - t0:.0f} s")

            print("\n1. one step up and back at the defaults (ms, key press to new picture)")
            times, dims = {}, []
            for key in ORDER:
                for _ in range(args.repeat):
                    for arrow in ("ArrowRight", "ArrowLeft"):
                        ms, _, dim = move(page, key, [arrow])
                        times.setdefault(key, []).append(ms)
                        dims.append(dim)
                print(f"  {key:>6}: median {statistics.median(times[key]):5.0f}  "
                      f"max {max(times[key]):5.0f}")
            every = [t for v in times.values() for t in v]
            print(f"  all {len(every)} moves: median {statistics.median(every):.0f} ms, "
                  f"max {max(every):.0f} ms; the picture dims (busy) after a median "
                  f"{statistics.median(dims):.0f} ms, at most {max(dims):.0f} ms")

            print("\n2. five quick presses on gamma, 40 ms apart")
            for arrow in ("ArrowRight", "ArrowLeft"):
                ms, n, _ = move(page, "gamma", [arrow] * 5, gap_ms=40)
                print(f"  {arrow}: last press to last picture {ms:.0f} ms, {n} picture(s); "
                      f"gamma reads {readout(page, 'gamma')}")

            print("\n3. to the slowest corner, one Home/End press a move")
            for key, name in [("A", "Home"), ("k", "End"), ("eta", "End"), ("gamma", "End"),
                              ("T", "End"), ("x_max", "End"), ("mu0", "End")]:
                ms = move(page, key, [name])[0]
                print(f"  {key:>6} -> {readout(page, key):>5}: {ms:6.0f} ms")
            print("  one step up and back at that corner:")
            corner = []
            at_min = ("A", "eps")  # the corner's sliders at their minimum: step up first
            for key in ORDER:
                arrows = ("ArrowRight", "ArrowLeft") if key in at_min else ("ArrowLeft",
                                                                              "ArrowRight")
                for arrow in arrows:
                    corner.append(move(page, key, [arrow])[0])
                print(f"  {key:>6}: {corner[-2]:5.0f} {corner[-1]:5.0f}")
            print(f"  all {len(corner)} moves at the corner: median "
                  f"{statistics.median(corner):.0f} ms, max {max(corner):.0f} ms")
            page.close()
            browser.close()
    finally:
        lab.stop()
        if path.read_bytes() != original:  # Lab's autosave must not leave the chapter changed
            path.write_bytes(original)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


if __name__ == "__main__":
    main()
