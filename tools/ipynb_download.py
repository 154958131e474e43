"""Sphinx extension: offer each executed chapter as an .ipynb in the page's download menu.

sphinx-book-theme adds the ".ipynb" download entry for MyST Markdown notebooks only when a
launch button (Binder, Colab, ...) is configured, and the book turns those off: it is read
offline. This does the same copy without them: the executed notebook that MyST-NB writes to
_build/jupyter_execute/ goes to _build/html/_sources/, where the download link points.
Loaded from _config.yml (sphinx.local_extensions).

The copy is made to open anywhere (plain JupyterLab, `make lab`, the classic notebook):

- its jupytext pairing metadata is removed. A notebook whose `metadata.jupytext.formats` says
  `md:myst` is, to a server with jupytext, one half of a pair whose other half (the `.md`) is
  missing, and opening it fails with "Unable to read paired notebook".
- its executed outputs stay, and so does the widget state that the executor saved in
  `metadata.widgets`: the dashboard's sliders and picture show before the first run.

`clean_notebook` does this to a notebook node; `tests/browser/test_lab.py` uses it too.
"""

from __future__ import annotations

import json
from pathlib import Path

# Keys under notebook metadata that only make sense next to the .md source.
PAIRING_KEYS = ("jupytext",)


def clean_notebook(nb: dict) -> dict:
    """Return ``nb`` (a notebook as a dict) without jupytext pairing metadata.

    Outputs, cell metadata and ``metadata.widgets`` are kept; the kernelspec too.
    The input is not modified.
    """
    out = json.loads(json.dumps(nb))
    meta = out.setdefault("metadata", {})
    for key in PAIRING_KEYS:
        meta.pop(key, None)
    for cell in out.get("cells", []):
        cell.get("metadata", {}).pop("jupytext", None)
    return out


def write_download(executed: Path, target: Path) -> Path:
    """Write the cleaned copy of the executed notebook ``executed`` to ``target``."""
    nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(clean_notebook(nb), indent=1, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    return target


def _offer_ipynb(app, pagename, templatename, context, doctree):
    if app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return  # a plain page (intro, references, status), not a notebook
    write_download(executed, Path(app.outdir) / "_sources" / f"{pagename}.ipynb")
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before sphinx-book-theme builds its header buttons (priority 501).
    app.connect("html-page-context", _offer_ipynb, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
