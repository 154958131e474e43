"""Every page of the built book, opened in chromium as a reader would (see conftest.py).

Per page, at desktop width: no page error, no console error, no failed request, no request
outside 127.0.0.1; every formula typeset by MathJax and no raw TeX left in the prose; every
image loaded with a non-zero natural size; every embedded widget rendered; every internal link
and anchor resolving; the page's own bytes (HTML and images) at most 5 MB; no line that begins
with the punctuation closing a formula. At phone width (390 px): nothing in the prose wider
than the screen, and again no such line. Every kernel-free slider is moved and its
figure must change. The site also renders from file://, with no request leaving the disk.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness import ARTIFACTS, HTML, PHONE

FRAME_PANEL = ".mm-frame-slider"  # mmlib.widgets.FRAME_PANEL_CLASS
MAX_PAGE_BYTES = 5 * 1024 * 1024
# Without a build the list falls back to index.html, whose test then fails ("run make book"):
# an empty list would make pytest skip every test without a word.
PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
               if not p.relative_to(HTML).parts[0].startswith("_")) or ["index.html"]
#: Chapters whose point is a parameter's effect: each has a kernel-free slider.
PARAMETER_CHAPTERS = ["book/dashboard.html", "book/intensities.html", "book/hjb.html",
                      "book/optimal_quotes.html", "book/master_equation.html",
                      "book/mean_field.html", "book/avellaneda_stoikov.html"]
# A page with a frame panel in its embedded widget state (not merely the class name in prose, as on
# the library reference).
_PANEL_STATE = re.compile(r'_dom_classes"\s*:\s*\[[^\]]*"mm-frame-slider"')
SLIDER_PAGES = sorted(set(PARAMETER_CHAPTERS) | {
    p for p in PAGES if (HTML / p).is_file() and
    _PANEL_STATE.search((HTML / p).read_text(encoding="utf-8"))})

# After load: MathJax has typeset (its startup promise), and every embedded widget view has
# been rendered by the HTML manager (it inserts a .widget-subarea before each view script).
WAIT_READY = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const views = [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')];
  const done = () => views.every(v => {
    const s = v.previousElementSibling;
    return s && s.classList.contains('widget-subarea') && s.childElementCount > 0;
  });
  for (let i = 0; i < 300 && !done(); i++) await new Promise(r => setTimeout(r, 100));
  return views.length;
}"""

INSPECT = r"""() => {
  const main = document.querySelector('main') || document.body;
  const math = [...main.querySelectorAll('.math')];
  const views = [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')];
  const prose = main.cloneNode(true);
  prose.querySelectorAll('pre, code, script, style, mjx-container, mjx-assistive-mml, ' +
                         '.cell_input, .cell_output, .output, .highlight, textarea')
       .forEach(e => e.remove());
  return {
    n_math: math.length,
    untypeset: math.filter(m => !m.querySelector('mjx-container'))
                   .map(m => m.textContent.slice(0, 80)),
    n_mjx: main.querySelectorAll('mjx-container').length,
    text: prose.innerText,
    images: [...document.querySelectorAll('img')].map(i => ({
      src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
    n_views: views.length,
    unrendered: views.filter(v => {
      const s = v.previousElementSibling;
      return !(s && s.classList.contains('widget-subarea') && s.childElementCount > 0);
    }).map(v => v.textContent.slice(0, 120)),
    widget_errors: [...document.querySelectorAll('.jupyter-widgets-error-widget, .widget-error')]
                   .map(e => e.textContent.slice(0, 120)),
  };
}"""

# TeX that MathJax should have turned into mjx-container: $...$, \(...\), \[...\], or a macro.
RAW_TEX = re.compile(r"\$[^$\s][^$]*\$|\\\(|\\\[|\\(?:frac|delta|gamma|eta|mathbb|mathrm|sum|int|"
                     r"partial|sqrt|begin|left|right|varepsilon|bar|hat|tilde|cdot|le|ge)\b")

PHONE_OVERFLOW = """() => {
  const W = document.documentElement.clientWidth, bad = [];
  const sw = document.documentElement.scrollWidth;
  if (sw > W + 1) bad.push(`page is ${sw} px wide on a ${W} px screen`);
  const sel = 'main p, main li, main h1, main h2, main h3, main h4, main dt, main dd, ' +
              'main figcaption, main img, main .widget-subarea, main .cell_output';
  for (const el of document.querySelectorAll(sel)) {
    // Inside a box that scrolls sideways on purpose (wide maths, code, tables) is fine.
    let p = el.parentElement, scrolls = false;
    for (; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { scrolls = true; break; }
    }
    const r = el.getBoundingClientRect();
    if (!scrolls && r.width > 0 && r.right > W + 1)
      bad.push(`${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(r.right)} px: ` +
               (el.textContent || el.src || '').trim().slice(0, 60));
  }
  return bad;
}"""


# Punctuation after an inline formula that a line break parted from it (tools/math_punctuation.py
# glues them).
PARTED_PUNCTUATION = r"""() => {
  const bad = [];
  for (const c of document.querySelectorAll('main mjx-container:not([display="true"])')) {
    const host = c.parentElement.classList.contains('math') ? c.parentElement : c;
    const nxt = host.nextSibling;
    if (!nxt || nxt.nodeType !== 3 || !/^[.,;:!?)\]]/.test(nxt.textContent)) continue;
    const box = c.getBoundingClientRect();
    if (box.height === 0) continue;  // not shown (a collapsed table of contents)
    const r = document.createRange();
    r.setStart(nxt, 0);
    r.setEnd(nxt, 1);
    if (r.getBoundingClientRect().top > box.bottom - 2)
      bad.push(`"${nxt.textContent.slice(0, 12)}" after ` + c.textContent.slice(0, 40));
  }
  return bad;
}"""


def redirect_target(name):
    """The page a redirect stub (the root index.html) forwards to, or None."""
    m = re.search(r'http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"',
                  (HTML / name).read_text(encoding="utf-8"), re.I)
    return None if m is None else m.group(1)


def wait_ready(page):
    return page.evaluate(WAIT_READY)


def goto(page, url, name):
    page.goto(url, wait_until="load")
    target = redirect_target(name)
    if target is not None:  # the stub must forward, and the page it forwards to is checked
        page.wait_for_url(urljoin(url, target), wait_until="load")


def open_clean(new_page, base, name, **kwargs):
    page, log = new_page(**kwargs)
    goto(page, base + name, name)
    wait_ready(page)
    return page, log


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_cleanly_offline_works_and_fits_a_phone(new_page, book_url, name):
    """One load of each page at desktop width: it renders with no outside request and no
    error, its kernel-free sliders change the figure and come back; then at phone width
    nothing overflows sideways."""
    page, log = open_clean(new_page, book_url, name)
    info = page.evaluate(INSPECT)
    page.wait_for_timeout(200)  # late console messages (fonts, lazy scripts)
    assert not log.problems(), log.problems()
    # Maths: every formula typeset, nothing left as raw TeX in the prose.
    assert info["untypeset"] == [], f"{len(info['untypeset'])} formulas not typeset"
    if info["n_math"]:
        assert info["n_mjx"] >= info["n_math"]
    raw = sorted({m.group(0) for m in RAW_TEX.finditer(info["text"])})
    assert raw == [], f"raw TeX in the prose: {raw[:10]}"
    # Images: loaded, non-empty.
    broken = [i["src"][:100] for i in info["images"] if not (i["complete"] and i["w"] > 0
                                                               and i["h"] > 0)]
    assert broken == [], broken
    # Widgets: each embedded view rendered, none as an error.
    assert info["unrendered"] == [] and info["widget_errors"] == [], info
    # Punctuation stays on its formula's line.
    parted = page.evaluate(PARTED_PUNCTUATION)
    assert parted == [], parted[:10]
    # Kernel-free sliders: every panel's sliders move the figure and back.
    if name in SLIDER_PAGES:
        panels = page.locator(FRAME_PANEL)
        assert panels.count() >= 1, f"{name} has no kernel-free slider"
        for i in range(panels.count()):
            exercise_panel(page, panels.nth(i), f"{name}, panel {i}")
        if name == "book/dashboard.html":
            assert page.locator(f"{FRAME_PANEL} .noUi-handle").count() >= 2
    # Phone width: the same page, narrowed (the layout is CSS media queries on the viewport).
    page.set_viewport_size(PHONE)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    bad = page.evaluate(PHONE_OVERFLOW)
    assert bad == [], bad[:10]
    parted = page.evaluate(PARTED_PUNCTUATION)
    assert parted == [], parted[:10]
    assert not log.problems(), log.problems()


def _ids(path: Path, cache={}):
    if path not in cache:
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        cache[path] = {t["id"] for t in soup.find_all(id=True)} | {
            t["name"] for t in soup.find_all("a", attrs={"name": True})}
    return cache[path]


@pytest.mark.parametrize("name", PAGES)
def test_internal_links_and_anchors_resolve(name):
    here = HTML / name
    soup = BeautifulSoup(here.read_text(encoding="utf-8"), "html.parser")
    base = "http://book.invalid/" + name
    bad = []
    for a in soup.find_all("a", href=True):
        target = urlsplit(urljoin(base, a["href"]))
        if target.netloc != "book.invalid":
            continue  # an outside link (a DOI, mailto:): a link, never a request
        path = HTML / unquote(target.path.lstrip("/"))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            bad.append(f"{a['href']}: no file {path.relative_to(HTML)}")
        elif target.fragment and path.suffix == ".html" and unquote(target.fragment) not in _ids(path):
            bad.append(f"{a['href']}: no anchor #{target.fragment}")
    assert bad == [], bad


@pytest.mark.parametrize("name", PAGES)
def test_page_names_a_favicon_the_book_ships(name):
    # without one a browser asks the site's root for /favicon.ico: a 404 in the console
    soup = BeautifulSoup((HTML / name).read_text(encoding="utf-8"), "html.parser")
    if soup.find("meta", attrs={"http-equiv": "Refresh"}) and not soup.find("body"):
        pytest.skip("a redirect with no page of its own (Jupyter Book's index.html)")
    icons = [link["href"] for link in soup.find_all("link", href=True)
             if "icon" in link.get("rel", [])]
    assert icons, f"{name}: no <link rel=icon>"
    for href in icons:
        assert (HTML / name).parent.joinpath(unquote(href)).resolve().is_file(), href


@pytest.mark.parametrize("name", PAGES)
def test_page_size_at_most_5_mb(name):
    html = HTML / name
    soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
    images = {(html.parent / unquote(i["src"])).resolve() for i in soup.find_all("img", src=True)
              if not i["src"].startswith(("data:", "http"))}
    total = html.stat().st_size + sum(p.stat().st_size for p in images if p.is_file())
    assert total <= MAX_PAGE_BYTES, f"{name}: {total / 2**20:.2f} MB (HTML + its images)"


def _shown(panel):
    imgs = panel.locator("img")
    return [imgs.nth(i) for i in range(imgs.count()) if imgs.nth(i).is_visible()]


def _visible_figure(panel):
    shown = _shown(panel)
    assert len(shown) == 1, f"{len(shown)} figures visible in a frame panel"
    return shown[0].screenshot(animations="disabled")


#: Milliseconds a slider move has to show its figure (the panel's own JavaScript, no kernel).
SETTLE_MS = 10_000

# The src of the panel's one shown image once it is loaded and decoded and its src differs from
# `old` (each frame the Stack shows is a new <img> with a new blob: URL), else false.
SHOWN_FRAME = """([panel, old]) => {
  const shown = [...panel.querySelectorAll('img')].filter(i => {
    const r = i.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(i).visibility !== 'hidden';
  });
  if (shown.length !== 1) return false;
  const img = shown[0];
  if (!(img.complete && img.naturalWidth > 0) || img.src === old) return false;
  return img.decode().then(() => img.src, () => false);
}"""


def _frame_src(page, panel, old=None):
    """Wait (up to SETTLE_MS) until the panel shows one decoded frame other than ``old``.

    Returns its src, or None on a timeout, when the caller's pixel comparison decides (and
    fails). This replaces a fixed sleep after each key press: the wait ends when the frame shows.
    """
    try:
        handle = page.wait_for_function(SHOWN_FRAME, arg=[panel.element_handle(), old],
                                        timeout=SETTLE_MS)
        return handle.json_value()
    except PlaywrightTimeout:
        return None


BACK = {"ArrowRight": "ArrowLeft", "ArrowLeft": "ArrowRight"}


def _move(page, handle, key=None):
    """Move a noUiSlider handle one step by keyboard (right unless at its end); return the key."""
    if key is None:
        now, hi = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
        key = "ArrowRight" if float(now) < float(hi) else "ArrowLeft"
    handle.focus()
    page.keyboard.press(key)
    return key


def exercise_panel(page, panel, where):
    """Move every slider of a frame panel one step: the figure must change, and come back."""
    panel.scroll_into_view_if_needed()
    handles = panel.locator(".noUi-handle")
    assert handles.count() >= 1, f"{where}: no slider rendered"
    for j in range(handles.count()):
        src = _frame_src(page, panel)
        before = _visible_figure(panel)
        key = _move(page, handles.nth(j))
        src = _frame_src(page, panel, old=src)
        after = _visible_figure(panel)
        assert after != before, f"{where}, slider {j}: {key} did not change the figure"
        _move(page, handles.nth(j), BACK[key])  # one step back: the first figure again
        _frame_src(page, panel, old=src)
        assert _visible_figure(panel) == before, f"{where}, slider {j}: no way back"


@pytest.mark.parametrize("name", PAGES)
def test_references_no_outside_script_style_or_font(name):
    """Belt and braces for the request check: no page even names an outside asset."""
    soup = BeautifulSoup((HTML / name).read_text(encoding="utf-8"), "html.parser")
    outside = [t.get("src") or t.get("href") for t in soup.find_all(["script", "link", "img",
                                                                     "iframe", "source"])
               if urlsplit(t.get("src") or t.get("href") or "").scheme in ("http", "https")
               and not (t.name == "link" and "stylesheet" not in (t.get("rel") or []))]
    assert outside == [], outside


@pytest.mark.parametrize("name", PAGES)
def test_renders_from_file_url(new_page, book_dir, name):
    page, log = new_page(allowed=(), allow_file=True)
    goto(page, (book_dir / name).as_uri(), name)
    n_views = wait_ready(page)
    info = page.evaluate(INSPECT)
    assert not log.problems(), log.problems()
    assert all(urlsplit(u).scheme in ("file", "data", "blob") for u in log.requests)
    assert info["untypeset"] == [] and info["unrendered"] == [], info
    if name in SLIDER_PAGES:  # the sliders work from disk too
        assert n_views > 0 and page.locator(FRAME_PANEL).count() >= 1
        exercise_panel(page, page.locator(FRAME_PANEL).first, f"{name} (file://)")
        assert not log.problems(), log.problems()


# Every notebook chapter of the sources (a jupytext header with a kernelspec), built or not.
CHAPTERS = sorted(f"book/{md.stem}.html" for md in (HTML.parents[1] / "book").glob("*.md")
                  if "kernelspec:" in md.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_offers_md_and_ipynb_downloads(name):
    soup = BeautifulSoup((HTML / name).read_text(encoding="utf-8"), "html.parser")
    links = {urljoin("http://book.invalid/" + name, a["href"]) for a in soup.find_all("a", href=True)}
    for ext in (".md", ".ipynb"):
        want = "http://book.invalid/_sources/" + name[:-len(".html")] + ext
        assert want in links, f"{name}: no download link to {want}"
        assert (HTML / "_sources" / (name[:-len(".html")] + ext)).stat().st_size > 0


def test_dashboard_screenshot(new_page, book_url):
    """The README's picture: `make screenshot` copies it to docs/dashboard.png."""
    page, log = open_clean(new_page, book_url, "book/dashboard.html")
    panel = page.locator(FRAME_PANEL).first  # the gamma x eta grid, with the text above it
    panel.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + scrollY - 90)")
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert not log.problems(), log.problems()
