"""Fixtures for the JupyterLab test: `make lab`'s server on 127.0.0.1, and Debian's chromium.

Kept apart from tests/browser/conftest.py (the published book's harness) so both can grow
without touching each other; tests/browser/test_lab.py imports these.

- ``LabServer.start()`` runs ``make lab`` with a random free port and token, in its own
  process group, with a fresh settings, workspace, config, data and runtime folder (a first
  start, and the user's own ~/.jupyter and trust database stay untouched). ``stop()`` ends it by its PID: SIGTERM
  to the process group that PID leads, then SIGKILL if it has not exited within 20 s.
- ``launch_chromium(playwright)`` starts /usr/bin/chromium headless, without network
  services of its own. Nothing is downloaded (never ``playwright install``).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 720}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """`make lab` on 127.0.0.1 with a token; started and stopped by this object only."""

    def __init__(self, root: Path = ROOT):
        self.root = Path(root)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = Path(tempfile.mkdtemp(prefix="mmlib-lab-"))
        self.proc: subprocess.Popen | None = None
        self.log = self.home / "server.log"

    def env(self) -> dict:
        env = dict(os.environ)
        # Under `make test` (make -j --output-sync) the outer make's flags would reach `make lab`:
        # its output would be held back until it exits and it would join the outer jobserver.
        for var in ("MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL"):
            env.pop(var, None)
        # JUPYTER_DATA_DIR holds the notebook-trust database: a test's trust stays in the test.
        # Kernels and Lab extensions come from the venv (JUPYTER_PREFER_ENV_PATH, make lab).
        for var, sub in [("JUPYTERLAB_SETTINGS_DIR", "settings"),
                         ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                         ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                         ("JUPYTER_DATA_DIR", "data")]:
            (self.home / sub).mkdir(exist_ok=True)
            env[var] = str(self.home / sub)
        return env

    def start(self, timeout: float = 120.0) -> "LabServer":
        # kernels on Unix sockets in the server's runtime folder (tools/kernel_ipc.py: TCP ports
        # picked for a kernel can be taken by another process before the kernel binds them)
        extra = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={self.port} "
                 f"--ServerApp.port_retries=0 --IdentityProvider.token={self.token} "
                 "--KernelManager.transport=ipc")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["make", "-s", "lab", f"LAB_EXTRA={extra}"],
                                         cwd=self.root, env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"make lab exited with {self.proc.returncode}:\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            try:
                self.api("GET", "/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {timeout:g} s")

    def api(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def trust(self, path: Path) -> None:
        """Sign a notebook as trusted in this server's trust database (`jupyter trust`)."""
        subprocess.run([str(self.root / ".venv" / "bin" / "jupyter"), "trust", str(path)],
                       env=self.env(), check=True, capture_output=True, timeout=60)

    def lab_url(self, path: str, reset: bool = False) -> str:
        """URL that opens ``path`` (relative to the root); ``reset``: in a fresh workspace."""
        return f"{self.url}/lab/tree/{path}?token={self.token}" + ("&reset" if reset else "")

    def stop(self) -> None:
        """End the server by its PID (its process group), then remove the temporary home."""
        if self.proc is not None and self.proc.poll() is None:
            pgid = self.proc.pid  # start_new_session: the PID leads its own group
            os.killpg(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            # kernels the server started are in the same group; wait until all have gone
            for _ in range(40):
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.25)
            else:
                os.killpg(pgid, signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)


def launch_chromium(playwright):
    """Debian's chromium through Playwright for Python; never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def boxes_overlap(a: dict, b: dict, tol: float = 0.5) -> bool:
    """Whether two bounding boxes ({x, y, width, height}) share more than ``tol`` pixels."""
    return (a["x"] + tol < b["x"] + b["width"] and b["x"] + tol < a["x"] + a["width"]
            and a["y"] + tol < b["y"] + b["height"] and b["y"] + tol < a["y"] + a["height"])
