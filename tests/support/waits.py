"""Bounded waiting, and a free port for the servers that cannot be told to pick their own."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable


def wait_until(
    condition: Callable[[], Any], timeout: float = 10.0, what: str = "", interval: float = 0.01
) -> Any:
    """Poll `condition` until it returns something truthy; fail the test at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout:g}s: {what or condition}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Only for programs that need a fixed port number in a file (Bots' bots.ini, a database):
    the runtime itself is started with `--port auto` and reports the port it got.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
