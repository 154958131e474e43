"""Chapters stay byte-for-byte clean when JupyterLab opens and saves them.

`make lab` opens a chapter through jupytext and saves it with `jupytext.writes`; a chapter in
jupytext's round-trip form comes back unchanged. `tools/normalize_chapters.py` puts a chapter
in that form and folds its solutions' code in Lab. (tests/browser/test_lab.py checks the same
in a real JupyterLab: open, run, save, compare bytes.)
"""
import importlib.util
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("normalize_chapters",
                                               ROOT / "tools" / "normalize_chapters.py")
norm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(norm)

CHAPTERS = norm.chapters()


def test_there_are_chapters():
    assert {"dashboard", "mean_field", "hjb"} <= set(CHAPTERS)


@pytest.mark.parametrize("stem", sorted(CHAPTERS))
def test_chapter_survives_a_jupytext_round_trip_byte_for_byte(stem):
    raw = CHAPTERS[stem].read_bytes()
    text = raw.decode("utf-8")
    nb = jupytext.reads(text, fmt="md:myst")
    back = jupytext.writes(nb, fmt="md:myst").encode("utf-8")
    assert back == raw, (f"{stem}.md changes when JupyterLab saves it; "
                         f"run: .venv/bin/python tools/normalize_chapters.py {stem}")


@pytest.mark.parametrize("stem", sorted(CHAPTERS))
def test_solution_code_is_hidden_in_lab(stem):
    """Every code cell between solution-start and solution-end is folded in JupyterLab."""
    nb = jupytext.reads(CHAPTERS[stem].read_text(encoding="utf-8"), fmt="md:myst")
    inside = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("```{solution-start}"):
                    inside = True
                elif line.startswith("```{solution-end}"):
                    inside = False
        else:
            hidden = cell.metadata.get("jupyter", {}).get("source_hidden") is True
            assert hidden == inside, (stem, cell.source[:60])
    assert not inside, f"{stem}: a solution-start without its solution-end"


SAMPLE = """---
jupytext:
  formats: md:myst
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
    jupytext_version: 1.19.6
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---

# T

```{code-cell} ipython3
---
mystnb:
  figure:
    caption: A caption long enough that jupytext's YAML writer wraps it at a different place from where it was wrapped by hand.
    name: t-fig
---
x = 1
```

```{exercise-start}
:label: t-ex1
```

Do it.

```{exercise-end}
```

```{solution-start} t-ex1
:class: dropdown
```

Like this.

```{code-cell} ipython3
y = 2
```

```{solution-end}
```

After the solution.
"""


def test_normalize_makes_a_fixed_point_and_hides_only_the_solution_code():
    out = norm.normalize(SAMPLE)
    assert out != SAMPLE and norm.round_trip(out) == out and norm.normalize(out) == out
    nb = jupytext.reads(out, fmt="md:myst")
    hidden = [c.source for c in nb.cells if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert hidden == ["y = 2"]
    assert all("jupyter" not in c.metadata for c in nb.cells if c.cell_type == "markdown")
    assert "outputs_hidden" not in out  # Lab resets it on run: a saved chapter would change


def test_normalize_check_mode_reports_and_changes_nothing(tmp_path, monkeypatch):
    book = tmp_path / "book"
    book.mkdir()
    (book / "t.md").write_text(SAMPLE, encoding="utf-8")
    (book / "plain.md").write_text("# Plain page\n", encoding="utf-8")
    monkeypatch.setattr(norm, "BOOK", book)
    assert set(norm.chapters()) == {"t"}
    assert norm.main(["--check"]) == 1 and (book / "t.md").read_text() == SAMPLE
    assert norm.main([]) == 0 and norm.main(["--check"]) == 0
    assert (book / "plain.md").read_text() == "# Plain page\n"
    with pytest.raises(SystemExit):
        norm.main(["nope"])
