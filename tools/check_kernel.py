#!/usr/bin/env python3
"""Fail unless Jupyter kernel `python3` runs this interpreter (the project's .venv).

papermill, nbval and jupyter-book all start the kernel named in a chapter's kernelspec
(`python3`). If that name resolves to a kernelspec from another environment (a user-level
~/.local/share/jupyter/kernels/python3, say), chapters would run with the wrong packages.
"""

from __future__ import annotations

import os
import sys

from jupyter_client.kernelspec import KernelSpecManager

spec = KernelSpecManager().get_kernel_spec("python3")
exe = spec.argv[0]
resolved = sys.executable if exe in {"python", "python3"} else os.path.abspath(exe)
inside = os.path.abspath(spec.resource_dir).startswith(os.path.abspath(sys.prefix) + os.sep)
if resolved != sys.executable or not inside:
    sys.exit(
        f"kernel 'python3' is {spec.resource_dir} running {exe!r}, not {sys.executable}: "
        f"run '{sys.executable} -m ipykernel install --sys-prefix --name python3' "
        "and make sure JUPYTER_PATH does not point elsewhere"
    )
print(f"kernel python3: {spec.resource_dir} -> {exe}")
