"""Sphinx extension: offer each executed chapter as an .ipynb in the page's download menu.

sphinx-book-theme adds the ".ipynb" download entry for MyST Markdown notebooks only when a
launch button (Binder, Colab, ...) is configured, and the book turns those off: it is read
offline. This does the same copy without them: the executed notebook that MyST-NB writes to
_build/jupyter_execute/ goes to _build/html/_sources/, where the download link points.
Loaded from _config.yml (sphinx.local_extensions).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _offer_ipynb(app, pagename, templatename, context, doctree):
    if app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return  # a plain page (intro, references, status), not a notebook
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before sphinx-book-theme builds its header buttons (priority 501).
    app.connect("html-page-context", _offer_ipynb, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
