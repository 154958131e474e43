"""The environment files agree: requirements.txt is the one source of pins.

environment.yml (for conda users) must list exactly the same packages at exactly the same
versions under `pip:`, and pyproject.toml names mmlib's dependencies without versions.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def _canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines, source: str) -> dict[str, str]:
    """Parse `name==version` lines (comments and blanks skipped) into {name: version}."""
    pins: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line == "-e .":
            continue
        match = PIN.match(line)
        assert match, f"{source}: {line!r} is not an exact pin 'name==version'"
        name = _canonical(match.group(1))
        assert name not in pins, f"{source}: {name} is pinned twice"
        pins[name] = match.group(2)
    return pins


@pytest.fixture(scope="module")
def requirements() -> dict[str, str]:
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    return _pins(text.splitlines(), "requirements.txt")


@pytest.fixture(scope="module")
def conda_env() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _pip_section(env: dict) -> list[str]:
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml needs exactly one 'pip:' section"
    return [str(item) for item in sections[0]]


def test_environment_yml_mirrors_requirements(requirements, conda_env):
    mirrored = _pins(_pip_section(conda_env), "environment.yml")
    missing = sorted(set(requirements) - set(mirrored))
    extra = sorted(set(mirrored) - set(requirements))
    differ = sorted(
        f"{n}: requirements.txt {requirements[n]} != environment.yml {mirrored[n]}"
        for n in set(requirements) & set(mirrored)
        if requirements[n] != mirrored[n]
    )
    assert not (missing or extra or differ), (
        "environment.yml does not mirror requirements.txt: "
        f"missing {missing}, extra {extra}, different {differ}"
    )


def test_environment_yml_python_and_editable_install(conda_env):
    deps = conda_env["dependencies"]
    assert "python=3.11" in deps, "environment.yml must ask for python=3.11"
    assert "-e ." in _pip_section(conda_env), "environment.yml must install mmlib with '-e .'"


def test_requirements_pin_the_toolchain(requirements):
    # Jupyter Book 1.x (Sphinx): _config.yml, _toc.yml and the Makefile's CLI flags are 1.x syntax.
    assert requirements.get("jupyter-book") == "1.0.4.post1"
    for name in [
        "numpy", "scipy", "matplotlib", "ipywidgets", "jupytext", "nbval", "papermill",
        "jupyterlab", "pytest", "hypothesis", "ipykernel", "pyyaml", "sphinx", "myst-nb",
        "sphinx-book-theme", "sphinxcontrib-bibtex", "sphinx-exercise",
    ]:
        assert name in requirements, f"{name} is not pinned in requirements.txt"


def test_pyproject_names_dependencies_without_versions(requirements):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        names += extra
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name), (
            f"pyproject.toml: {name!r} carries a version; pins belong in requirements.txt"
        )
        assert _canonical(name) in requirements, f"{name} is not pinned in requirements.txt"
