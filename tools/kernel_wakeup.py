"""Never sleep through a kernel reply: poll the client's ZMQ sockets in one-second slices.

The stall this fixes (issue 11): once in a few runs, a chapter cell that displays a live widget
(``display(dash.widget())``) took the whole 300 s cell timeout, with the kernel idle and the
executing process idle in ``epoll_wait`` and nothing left in the TCP queues. The reply had
arrived; the waiting side was not woken. nbclient waits for a cell's ``execute_reply`` with
``shell_channel.get_msg(timeout=300)``, a single ``await socket.poll(300000)`` on an
edge-triggered ZMQ file descriptor. If the edge is consumed while no poll is pending (widget
comm messages arriving around the reply are one way), that poll sleeps until its timeout.
Reported upstream as jupyter/nbclient#312 (execution sometimes blocks on cells with widgets).

:func:`install` replaces ``jupyter_client``'s async channel ``get_msg`` with one that waits in
slices of at most :data:`SLICE` seconds and, after each slice, asks the socket itself
(``zmq.EVENTS``) whether a message is queued. A missed wake-up then costs at most a second.
The timeout the caller asked for is kept exactly: ``Empty`` is raised only after it.

It is installed by the book build (as a Sphinx extension listed in ``_config.yml``) and by
``tools/run_notebooks.py`` (papermill and nbval), so every executor of the chapters has it.
"""
from __future__ import annotations

import math
import time
from queue import Empty

SLICE = 1.0  # seconds: the longest a queued message can wait unnoticed


def install() -> bool:
    """Patch ``jupyter_client.channels.AsyncZMQSocketChannel.get_msg`` (idempotent).

    Returns True if the patch is in place.
    """
    import zmq
    from jupyter_client import channels

    cls = channels.AsyncZMQSocketChannel
    if getattr(cls.get_msg, "_sliced", False):
        return True

    async def get_msg(self, timeout=None):
        assert self.socket is not None
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = SLICE if left is None else min(SLICE, left)
            # Round up: a poll (or the event loop's timer) may wake a little early, so the
            # deadline itself is checked below, never assumed from the slice's length.
            ready = await self.socket.poll(math.ceil(step * 1000))
            if ready or (self.socket.get(zmq.EVENTS) & zmq.POLLIN):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty

    get_msg._sliced = True
    get_msg.__doc__ = "Get a message, polling in slices of at most SLICE seconds (kernel_wakeup)."
    cls.get_msg = get_msg
    return True


def setup(app):
    """Sphinx extension entry point: install the patch for myst-nb's notebook client."""
    install()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
