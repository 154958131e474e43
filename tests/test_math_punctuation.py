"""tools/math_punctuation.py on docutils trees parsed from reStructuredText."""
import sys
from pathlib import Path

from docutils import nodes
from docutils.core import publish_doctree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import math_punctuation  # noqa: E402


def _glued(rst):
    tree = publish_doctree(rst, settings_overrides={"report_level": 5})
    n = math_punctuation.glue(tree)
    boxes = [b.astext() for b in tree.findall(nodes.inline)
             if math_punctuation.CLASS in b["classes"]]
    return n, boxes, tree.astext()


def test_punctuation_after_and_bracket_before_join_the_formula():
    n, boxes, text = _glued("The mean, :math:`\\mu_0 \\in \\{-10, 10\\}`: the start "
                            "(:math:`x^2`), and :math:`T`. End.")
    assert n == 3
    assert boxes == ["\\mu_0 \\in \\{-10, 10\\}:", "(x^2),", "T."]
    # the words are unchanged, in order
    assert text == "The mean, \\mu_0 \\in \\{-10, 10\\}: the start (x^2), and T. End."


def test_formula_between_words_and_display_maths_are_left_alone():
    n, boxes, text = _glued("A rate :math:`\\lambda` per unit.\n\n.. math:: x^2.\n")
    assert n == 0 and boxes == []


def test_glue_twice_wraps_once():
    tree = publish_doctree(":math:`a`, :math:`b`.", settings_overrides={"report_level": 5})
    assert math_punctuation.glue(tree) == 2
    assert math_punctuation.glue(tree) == 0
    assert tree.astext() == "a, b."

