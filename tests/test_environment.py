"""The environment: environment.yml (for conda users) installs from requirements.txt, the one
source of pins; importing mmlib stays light."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_pins_python_and_installs_requirements_txt():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1 and "-r requirements.txt" in pip[0] and "-e ." in pip[0]
    # nothing else is pinned there: the versions live only in requirements.txt
    assert all(line in ("-r requirements.txt", "-e .") for line in pip[0])
    assert (ROOT / "requirements.txt").is_file()


def test_importing_mmlib_leaves_scipy_stats_out():
    # every chapter's kernel, test worker and doctest run imports mmlib; scipy.stats alone costs
    # 2-4 s on the slow CI machines, so the library takes only the scipy.special it needs
    import subprocess
    import sys

    code = "import sys, mmlib; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
