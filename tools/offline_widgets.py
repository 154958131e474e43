"""Sphinx extension: the static book serves its widget JavaScript itself, and its pages load cleanly.

1. **Widgets offline.** MyST-NB embeds each chapter's widget state in the page and, by default,
   loads require.js and the ipywidgets HTML manager from two CDNs. `_config.yml` points
   ``nb_ipywidgets_js`` at local copies instead; this extension copies them from ``node_modules``
   (installed at pinned versions from ``package-lock.json`` by ``make vendor``, i.e. ``npm ci``)
   into ``_build/html/_static/vendor/``. The vendored files are never in a book-level
   ``_static`` folder: Jupyter Book adds every script of such a folder to every page.
   ``require-config.js`` (written here) maps the module names that ``embed-amd.js`` defines onto
   that file, so the bundle's own public path, and hence its font URLs, resolve inside
   ``_static/vendor/`` on a web server and under ``file://`` alike. It also gives MathJax 3 the
   ``MathJax.Hub.Queue`` that the widgets still call to typeset their labels (MathJax 2's API;
   without it every widget label raised a page error).
2. **One THEBE_JS_URL.** sphinx-thebe registers an inline ``const THEBE_JS_URL = ...`` script with
   ``app.add_js_file(None, body=...)``, which reaches the HTML builder as ``_JavaScript(None)``.
   ``StandaloneHTMLBuilder.prepare_writing`` adds every registered script once more, now as
   ``_JavaScript('')``; ``None != ''``, so its duplicate check misses it and every page declared
   the constant twice ("Identifier 'THEBE_JS_URL' has already been declared"). This removes exact
   duplicates of inline scripts from each page, and, because the book turns Thebe off
   (``launch_buttons.thebe: false``), drops sphinx-thebe's config script and loader altogether.
3. The "Got invalid theme mode" console error is configuration, not code: pydata-sphinx-theme
   reads ``default_mode`` from ``html_context``, and `_config.yml` sets it to ``auto``.

Loaded from _config.yml (sphinx.local_extensions).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
#: node_modules path -> path under _build/html/_static/vendor/
FILES = {
    "requirejs/require.js": "require.js",
    "@jupyter-widgets/html-manager/dist": "html-manager",
}
#: Modules that embed-amd.js defines itself (``define("<name>", ...)``).
AMD_MODULES = [
    "@jupyter-widgets/base",
    "@jupyter-widgets/base7",
    "@jupyter-widgets/controls",
    "@jupyter-widgets/controls7",
    "@jupyter-widgets/html-manager",
    "@jupyter-widgets/html-manager/dist/libembed-amd",
]

REQUIRE_CONFIG = """\
// Written by tools/offline_widgets.py. Loaded after require.js, before embed-amd.js.
(function () {
  // Every module the widget bundle defines is mapped onto the local bundle, so its public path
  // (fonts, CSS assets) is this folder, and nothing is ever asked of a CDN.
  var here = document.currentScript.src;
  var base = here.slice(0, here.lastIndexOf("/") + 1);
  var paths = {};
  %(modules)s.forEach(function (name) { paths[name] = base + "html-manager/embed-amd"; });
  require.config({ paths: paths });
  window.__jupyter_widgets_assets_path__ = base + "html-manager/";

  // The widgets typeset their labels through MathJax 2's MathJax.Hub.Queue; the book runs
  // MathJax 3, which has no Hub, so every label raised "Cannot read properties of undefined
  // (reading 'Queue')" (jupyter-widgets/ipywidgets#3829). Route those calls to MathJax 3.
  function shim() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;
    mj.Hub = {
      Queue: function (job) {
        var el = job && job[2];
        mj.startup.promise.then(function () {
          return el ? mj.typesetPromise([el]) : mj.typesetPromise();
        }).catch(function (err) { console.warn("MathJax typeset of a widget label:", err); });
      }
    };
  }
  shim();
  // MathJax is loaded with `defer`: it exists by DOMContentLoaded, before any widget renders.
  document.addEventListener("DOMContentLoaded", shim);
})();
"""


def _check_sources() -> None:
    missing = [p for p in FILES if not (NODE_MODULES / p).exists()]
    if missing:
        raise RuntimeError(
            f"vendored JavaScript missing from {NODE_MODULES} ({', '.join(missing)}): "
            "run `make vendor` (npm ci of package-lock.json)")


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    dst = Path(app.outdir) / "_static" / "vendor"
    dst.mkdir(parents=True, exist_ok=True)
    for src, target in FILES.items():
        s, d = NODE_MODULES / src, dst / target
        if s.is_dir():
            # The .map and the non-AMD bundle are never loaded by a page.
            shutil.copytree(s, d, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.map", "embed.js", "libembed-amd.js"))
        else:
            shutil.copy2(s, d)
    (dst / "require-config.js").write_text(
        REQUIRE_CONFIG % {"modules": json.dumps(AMD_MODULES)}, encoding="utf-8")


def _thebe_off(app) -> bool:
    launch = app.config.html_theme_options.get("launch_buttons", {}) or {}
    return not launch.get("thebe")


def _clean_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    thebe_off = _thebe_off(app)
    for js in scripts:
        name = str(getattr(js, "filename", js) or "")  # None and "" are the same inline script
        attrs = getattr(js, "attributes", {})
        body = attrs.get("body", "")
        if thebe_off and (name.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body):
            continue  # Thebe is off: neither its config nor its loader belongs on the page
        key = (name, getattr(js, "priority", 500), tuple(sorted(attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def setup(app):
    _check_sources()  # fail early, with a clear message
    app.connect("build-finished", _copy)
    # After every other handler has added its scripts to the page.
    app.connect("html-page-context", _clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
