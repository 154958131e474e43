"""Sphinx extension: author-year citations in round brackets, "Sud (2025)", "(Sud, 2025)".

sphinxcontrib-bibtex's ``author_year`` reference style brackets years with square brackets
("Sud [2025]"). Its documented way to change that is a reference style plugin with other
``BracketStyle``s; this registers one, ``author_year_round``, which `_config.yml` selects with
``bibtex_reference_style``. The bibliography's own labels (``bibtex_default_style``) are
unchanged. Loaded from _config.yml (sphinx.local_extensions).
"""

from __future__ import annotations

import dataclasses

import sphinxcontrib.bibtex.plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

NAME = "author_year_round"


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclasses.dataclass
class RoundAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    """``author_year`` with round brackets everywhere."""

    bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_textual: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_author: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_label: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_year: BracketStyle = dataclasses.field(default_factory=_round)


sphinxcontrib.bibtex.plugin.register_plugin(
    "sphinxcontrib.bibtex.style.referencing", NAME, RoundAuthorYearReferenceStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
