"""Source hygiene that the linter does not see: control characters inside strings."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("mmlib/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("book/*.md")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_tab_or_control_bytes(path):
    # e.g. "\theta" typed in a non-raw docstring becomes TAB + "heta"
    text = path.read_text(encoding="utf-8")
    bad = [(i + 1, line) for i, line in enumerate(text.splitlines())
           if any(ord(c) < 32 and c not in "\n\r" for c in line)]
    assert not bad, f"{path.name}: control characters on lines {[n for n, _ in bad]}"
