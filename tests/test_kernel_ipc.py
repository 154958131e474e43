"""tools/kernel_ipc.py: the executors' kernels talk over Unix sockets of their own."""
import glob
import os
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import kernel_ipc  # noqa: E402


@pytest.fixture
def ipc(monkeypatch):
    monkeypatch.setattr(KernelManager, "__init__", KernelManager.__init__)  # undone after
    assert kernel_ipc.install() and kernel_ipc.install()  # idempotent


def test_managers_default_to_ipc_on_paths_of_their_own(ipc):
    a, b = KernelManager(kernel_name="python3"), KernelManager(kernel_name="python3")
    assert a.transport == b.transport == "ipc"
    assert a.ip != b.ip and os.path.dirname(a.ip) == tempfile.gettempdir()
    tcp = KernelManager(kernel_name="python3", transport="tcp")  # an explicit choice is kept
    assert tcp.transport == "tcp" and tcp.ip == "127.0.0.1"


def test_a_notebook_runs_on_unix_sockets_and_leaves_none_behind(ipc):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    client = NotebookClient(nb, kernel_name="python3", timeout=60)
    with client.setup_kernel():
        km = client.km
        sockets = [f"{km.ip}-{port}" for port in (km.shell_port, km.iopub_port, km.stdin_port,
                                                   km.hb_port, km.control_port)]
        assert km.transport == "ipc" and all(os.path.exists(s) for s in sockets), sockets
        client.execute_cell(nb.cells[0], 0)
    assert nb.cells[0].outputs[0]["text"] == "42\n"
    assert not glob.glob(f"{km.ip}-*")  # the socket files went with the kernel
