"""A few CSS rules for readers on phones: long API lines wrap, wide index tables scroll.

The library reference (``book/api.md``) has field lists such as ``1 <= n_steps <=
mmlib.limits.MAX_STEPS`` with no place to break, and Sphinx's general index is a table of
columns; on a 390 px screen both pushed the page sideways (``tests/browser`` checks every page at
phone width). The stylesheet lives beside this module, not in a book-level ``_static`` folder
(Jupyter Book would add every file of such a folder to every page), and is copied into the
build's ``_static`` when the build finishes.
"""
from __future__ import annotations

from pathlib import Path

CSS = Path(__file__).with_name("reader.css")


def _copy(app, exc):
    if exc is None and app.builder.format == "html":
        out = Path(app.outdir) / "_static" / CSS.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(CSS.read_text(encoding="utf-8"), encoding="utf-8")


def setup(app):
    """Sphinx extension: link ``reader.css`` from every page and copy it into the build."""
    app.add_css_file(CSS.name)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
