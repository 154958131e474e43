"""Sphinx extension: punctuation stays on the line of the formula it follows.

MathJax typesets inline maths as an inline-block, and a browser may break the line between it
and the text after it: a reader saw lines begin with the colon of ``$\\mu_0 \\in \\{...\\}$:`` or
the full stop closing a sentence, at phone and at desktop width (15 places on 390 px, 10 on
1280 px). This wraps each inline formula with the punctuation that follows it (and an opening
bracket just before it) in ``<span class="math-nowrap">``, which ``tools/reader.css`` keeps on
one line. The text is unchanged. Loaded from _config.yml (sphinx.local_extensions); checked in
the built pages by tests/browser/test_book.py.
"""
from __future__ import annotations

import re

from docutils import nodes
from docutils.transforms import Transform

#: Punctuation that must not begin a line, and brackets that must not end one.
_AFTER = re.compile(r"^[.,;:!?)\]\u2019\u201d]+")
_BEFORE = re.compile(r"[(\[\u2018\u201c]$")
CLASS = "math-nowrap"


def _set_text(parent, node, text):
    """Replace Text ``node`` of ``parent`` by ``text``, or drop it if ``text`` is empty."""
    if text:
        parent.replace(node, nodes.Text(text))
    else:
        parent.remove(node)


def glue(doctree):
    """Wrap every inline ``math`` node that touches punctuation. Returns how many."""
    count = 0
    for math in list(doctree.findall(nodes.math)):
        parent = math.parent
        if parent is None or (isinstance(parent, nodes.inline) and CLASS in parent["classes"]):
            continue
        i = parent.index(math)
        nxt = parent[i + 1] if i + 1 < len(parent) else None
        prev = parent[i - 1] if i > 0 else None
        after = _AFTER.match(nxt.astext()) if isinstance(nxt, nodes.Text) else None
        before = _BEFORE.search(prev.astext()) if isinstance(prev, nodes.Text) else None
        if after is None and before is None:
            continue
        box = nodes.inline(classes=[CLASS])
        if before is not None:
            text = prev.astext()
            _set_text(parent, prev, text[:before.start()])
            box += nodes.Text(text[before.start():])
        if after is not None:
            text = nxt.astext()
            _set_text(parent, nxt, text[after.end():])
            tail = nodes.Text(text[:after.end()])
        parent.replace(math, box)
        box += math
        if after is not None:
            box += tail
        count += 1
    return count


class GlueMathPunctuation(Transform):
    """At read time, so section titles in the page's table of contents are glued too."""

    default_priority = 700

    def apply(self):
        glue(self.document)


def setup(app):
    """Register the transform (the class only matters to the HTML stylesheet)."""
    app.add_transform(GlueMathPunctuation)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
