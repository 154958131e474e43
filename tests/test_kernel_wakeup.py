"""tools/kernel_wakeup.py: a reply that is queued but whose wake-up was missed is still read."""
import asyncio
import sys
import time
from pathlib import Path
from queue import Empty

import pytest
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import kernel_wakeup  # noqa: E402
from jupyter_client.channels import AsyncZMQSocketChannel  # noqa: E402


class _MissedWakeupSocket:
    """A socket whose poll never fires (the edge was consumed) although a message is queued."""

    def __init__(self, queued):
        self.queued = queued
        self.polls = []

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        await asyncio.sleep(timeout_ms / 1000)
        return 0

    def get(self, option):
        assert option == zmq.EVENTS
        return zmq.POLLIN if self.queued else 0


def _channel(sock):
    ch = AsyncZMQSocketChannel.__new__(AsyncZMQSocketChannel)
    ch.socket = sock

    async def _recv():
        return {"msg": "reply"}

    ch._recv = _recv
    return ch


def test_a_queued_reply_is_read_after_one_slice_not_after_the_timeout(monkeypatch):
    monkeypatch.setattr(kernel_wakeup, "SLICE", 0.05)
    kernel_wakeup.install()
    sock = _MissedWakeupSocket(queued=True)
    msg = asyncio.run(_channel(sock).get_msg(timeout=300))
    assert msg == {"msg": "reply"} and sock.polls == [50]


class _EarlyPollSocket(_MissedWakeupSocket):
    """A poll that returns 3 ms before its timeout, as a timer of coarse resolution may."""

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        await asyncio.sleep(max(0.0, timeout_ms / 1000 - 0.003))
        return 0


@pytest.mark.parametrize("socket_class", [_MissedWakeupSocket, _EarlyPollSocket])
def test_the_callers_timeout_is_kept(monkeypatch, socket_class):
    # _EarlyPollSocket: seen in a unit run, a poll that woke early ended the wait at 0.1198 s
    monkeypatch.setattr(kernel_wakeup, "SLICE", 0.05)
    kernel_wakeup.install()
    sock = socket_class(queued=False)
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(_channel(sock).get_msg(timeout=0.12))
    waited = time.monotonic() - start
    assert 0.12 <= waited < 0.5 and len(sock.polls) >= 3 and max(sock.polls) <= 50
