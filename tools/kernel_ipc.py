"""Kernels started by the chapters' executors talk over Unix sockets, not TCP ports.

Over TCP, ``jupyter_client`` picks five free ports, writes them to the connection file and
closes them; the kernel binds them a second or so later. In that window any other process can
take one of them: `make test` starts kernels two steps at a time (the book build beside nbval)
while the browser tests open connections, and every outgoing connection takes a port from the
same ephemeral range. Seen once in a fresh clone's run: a book-build kernel's heartbeat thread
died with ``ZMQError: Address already in use (addr='tcp://127.0.0.1:46555')``. Had the port been
the shell's or the iopub's, the kernel would have died at start and the client waited for it.

:func:`install` makes ``transport="ipc"`` the default of every ``KernelManager`` created in this
process afterwards, with socket files under a path of the manager's own
(``<tmp>/mmlib-kernel-<12 hex digits>-<n>``), so no two kernels, in any process, can meet. An
explicit ``transport`` or ``ip`` keeps its value. It also ends ipykernel's warning that the
kernel is "running over TCP without encryption".

It is installed by the book build (a Sphinx extension listed in ``_config.yml``) and by
``tools/run_notebooks.py`` (papermill and nbval), as ``kernel_wakeup`` is.
"""
from __future__ import annotations

import os
import tempfile
import uuid


def install() -> bool:
    """Patch ``jupyter_client.manager.KernelManager.__init__`` (idempotent). Returns True."""
    from jupyter_client.manager import KernelManager

    init = KernelManager.__init__
    if getattr(init, "_ipc", False):
        return True

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("transport", "ipc")
        if kwargs["transport"] == "ipc":
            kwargs.setdefault("ip", os.path.join(tempfile.gettempdir(),
                                                 f"mmlib-kernel-{uuid.uuid4().hex[:12]}"))
        init(self, *args, **kwargs)

    __init__._ipc = True
    __init__.__doc__ = init.__doc__
    KernelManager.__init__ = __init__
    return True


def setup(app):
    """Sphinx extension entry point: install the patch for myst-nb's notebook client."""
    install()
