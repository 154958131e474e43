"""The browser checks can fail: each is shown a small page with the defect it looks for."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest

from harness import PHONE, _QuietHandler
from test_book import INSPECT, PHONE_OVERFLOW, RAW_TEX

BAD_PAGE = """<!doctype html><html><head>
<script src="http://cdn.example.invalid/require.js"></script>
<script>console.error("broken on purpose"); throw new Error("thrown on purpose");</script>
</head><body><main>
<p>Some prose with $x^2$ left raw and \\(y\\) too.</p>
<span class="math">\\(z\\)</span>
<img src="missing.png" alt="">
<div style="width: 1000px">too wide for a phone</div>
<script type="application/vnd.jupyter.widget-view+json">{"model_id": "nope"}</script>
</main></body></html>"""


@pytest.fixture(scope="module")
def bad_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_site")
    (root / "bad.html").write_text(BAD_PAGE, encoding="utf-8")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bad.html"
    server.shutdown()
    server.server_close()


def test_page_log_records_every_kind_of_problem(new_page, bad_site):
    page, log = new_page()
    page.goto(bad_site, wait_until="load")
    page.wait_for_timeout(300)
    found = log.problems()
    assert found["requests leaving 127.0.0.1"] == ["http://cdn.example.invalid/require.js"]
    assert any("thrown on purpose" in e for e in found["page errors"])
    assert any("broken on purpose" in e for e in found["console errors"])
    assert any(e.startswith("404 ") and e.endswith("/missing.png") for e in found["HTTP errors"])


def test_inspection_sees_raw_tex_broken_images_and_unrendered_widgets(new_page, bad_site):
    page, _ = new_page()
    page.goto(bad_site, wait_until="load")
    info = page.evaluate(INSPECT)
    assert info["untypeset"] == ["\\(z\\)"]
    assert {m.group(0) for m in RAW_TEX.finditer(info["text"])} == {"$x^2$", "\\("}
    assert [i["w"] for i in info["images"]] == [0]
    assert len(info["unrendered"]) == 1


def test_phone_check_sees_overflow(new_page, bad_site):
    page, _ = new_page(viewport=PHONE)
    page.goto(bad_site, wait_until="load")
    assert page.evaluate(PHONE_OVERFLOW) != []

