"""Browser harness: Debian's chromium driven by Playwright for Python, and the built book served
on 127.0.0.1.

Reusable by any browser test under tests/browser/:

- ``browser``: one headless chromium for the session, launched from ``/usr/bin/chromium``
  (``MM_CHROMIUM`` overrides the path). Playwright's own browser download (``playwright
  install``) is never used: it needs a network this project does not have. A missing chromium
  fails the run with the command that installs it; it never skips.
- ``new_page(viewport=..., allowed=...)``: a fresh context and page whose :class:`PageLog`
  records page errors, console errors, failed requests, HTTP errors and every request to a host
  outside ``allowed`` (by default 127.0.0.1 only). Those outside requests are *aborted*, so
  nothing leaves the machine even while a test fails. If the test fails, a screenshot of every
  page it opened goes to ``_build/browser/`` (the CI workflow uploads that folder).
- ``book_url``: base URL of ``_build/html`` served by a local HTTP server (run ``make book``
  first).

The fixtures are defined here and re-exported by ``conftest.py``; a new test module imports
what else it needs from ``harness`` (``LAUNCH_ARGS``, ``PageLog``, ``DESKTOP``, ``PHONE``), for
example to point ``new_page(allowed=("127.0.0.1", "localhost"))`` at a JupyterLab server.
Run with ``make test-browser``.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
ARTIFACTS = ROOT / "_build" / "browser"
CHROMIUM = Path(os.environ.get("MM_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Schemes that never reach a network (inline images, widget blobs, the page itself from disk).
LOCAL_SCHEMES = {"data", "blob", "about"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class PageLog:
    """Everything a page did wrong, as text; ``problems()`` is empty for a clean page."""

    allowed_hosts: frozenset
    allow_file: bool = False
    page_errors: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    http_errors: list = field(default_factory=list)
    foreign_requests: list = field(default_factory=list)
    requests: list = field(default_factory=list)

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES:
            return True
        if parts.scheme == "file":
            return self.allow_file
        return parts.scheme in ("http", "https", "ws") and parts.hostname in self.allowed_hosts

    def _request(self, url):
        self.requests.append(url)
        if not self.is_local(url):
            self.foreign_requests.append(url)

    def attach(self, page):
        page.on("request", lambda req: self._request(req.url))
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(
            f"{msg.text} ({msg.location.get('url', '')}:{msg.location.get('lineNumber', '')})"))
        page.on("requestfailed", lambda req: self.failed_requests.append(
            f"{req.url} ({req.failure})"))
        page.on("response", lambda resp: resp.status >= 400 and self.http_errors.append(
            f"{resp.status} {resp.url}"))

    def route(self, route):
        """Let local requests through; abort any other before it leaves the machine."""
        if self.is_local(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def problems(self) -> dict:
        found = {
            "page errors": self.page_errors,
            "console errors": self.console_errors,
            # An aborted outside request also fails; it is reported once, as outside.
            "failed requests": [r for r in self.failed_requests
                                if not any(r.startswith(f) for f in self.foreign_requests)],
            "HTTP errors": self.http_errors,
            "requests leaving 127.0.0.1": self.foreign_requests,
        }
        return {k: v for k, v in found.items() if v}


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"chromium not found at {CHROMIUM}. Install Debian's package: "
                    "`make chromium` (runs `apt-get install -y chromium` as root), or "
                    "`sudo apt-get install chromium`; or set MM_CHROMIUM to its path. "
                    "Never `playwright install`.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def book_dir():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}: run `make book` first", pytrace=False)
    return HTML


@pytest.fixture(scope="session")
def book_url(book_dir):
    handler = functools.partial(_QuietHandler, directory=str(book_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


@pytest.fixture
def new_page(browser, request):
    """Factory: ``new_page(viewport=DESKTOP, allowed=("127.0.0.1",), allow_file=False)``
    returns ``(page, log)``."""
    opened = []

    def make(viewport=DESKTOP, allowed=("127.0.0.1",), allow_file=False):
        context = browser.new_context(viewport=viewport, service_workers="block")
        log = PageLog(frozenset(allowed), allow_file=allow_file)
        context.route("**/*", log.route)
        page = context.new_page()
        log.attach(page)
        opened.append((context, page))
        return page, log

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for i, (context, page) in enumerate(opened):
        if failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            try:
                page.screenshot(path=str(ARTIFACTS / f"{name}-{i}.png"), full_page=True)
            except Exception:  # a crashed page has no screenshot; the report says why
                pass
        context.close()
