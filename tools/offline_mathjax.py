"""Sphinx extension: serve MathJax 3 from the book itself instead of a CDN.

The book is read offline as often as online (a classroom without network, a phone on a
train), and its build must not download anything. MathJax 3.2.2 comes from the pinned PyPI
package django-static-mathjax (plain static files; it does not need Django). This copies the
CommonHTML component, its fonts and the TeX extensions it loads on demand into
``_build/html/_static/mathjax`` and points Sphinx's ``mathjax_path`` at it.
Loaded from _config.yml (sphinx.local_extensions).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

_PARTS = ["tex-chtml.js", "input", "output/chtml", "ui", "a11y", "adaptors"]


def _source() -> Path:
    spec = importlib.util.find_spec("mathjax")  # django-static-mathjax's package
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("django-static-mathjax is not installed: run `make venv`")
    root = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (root / "tex-chtml.js").is_file():
        raise RuntimeError(f"MathJax not found at {root}")
    return root


def _set_path(app, config):
    config.mathjax_path = "mathjax/tex-chtml.js"


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    src = _source()
    dst = Path(app.outdir) / "_static" / "mathjax"
    for part in _PARTS:
        s, d = src / part, dst / part
        if s.is_dir():
            shutil.copytree(s, d, dirs_exist_ok=True)
        elif s.is_file():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)


def setup(app):
    _source()  # fail early, with a clear message, if the package is missing
    app.connect("config-inited", _set_path)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
