"""`bots-runtime probe`: exit 0 or 1 against a real server, one line on failure, fast start."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import anyio
import pytest

from bots_runtime.core.state import Phase
from bots_runtime.web import client
from tests.http.kit import board_in, publish, serving

pytestmark = pytest.mark.anyio


async def run_probe(target: str, port: int, host: str = "127.0.0.1") -> int:
    return await anyio.to_thread.run_sync(client.main, target, host, port, 2.0)


async def test_ok_is_zero_and_silent(capsys: pytest.CaptureFixture[str]) -> None:
    """A 200 answer exits 0 and prints nothing."""
    async with serving(board_in(Phase.RUNNING)) as served:
        assert await run_probe("readyz", served.port) == 0
        assert await run_probe("healthz", served.port) == 0
        assert await run_probe("livez/process", served.port) == 0
    assert capsys.readouterr().out == ""


async def test_503_is_one_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A 503 answer exits 1 with one line naming the failed check."""
    async with serving(board_in(Phase.RUNNING)) as served:
        publish(served.board, draining=True)
        assert await run_probe("readyz", served.port) == 1
        assert await run_probe("healthz", served.port) == 0
    out = capsys.readouterr().out
    assert out == "readyz: 503 Service Unavailable: [-]process failed: draining\n"


async def test_wildcard_host_reaches_loopback() -> None:
    """--host 0.0.0.0 (the listen default) is probed through 127.0.0.1."""
    async with serving(board_in(Phase.RUNNING)) as served:
        assert await run_probe("readyz", served.port, host="0.0.0.0") == 0


def test_nothing_listening(capsys: pytest.CaptureFixture[str]) -> None:
    """No server: exit 1 with one line saying why."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = sock.getsockname()[1]
    try:
        assert client.main("readyz", "127.0.0.1", port, 1.0) == 1
    finally:
        sock.close()
    out = capsys.readouterr().out
    assert out == f"readyz: cannot reach 127.0.0.1:{port}: Connection refused\n"


def test_no_answer_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    """A server that accepts but never answers: exit 1 after the timeout, one line."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    begun = time.monotonic()
    try:
        assert client.main("readyz", "127.0.0.1", port, 0.3) == 1
    finally:
        sock.close()
    assert time.monotonic() - begun < 2
    assert capsys.readouterr().out == f"readyz: no answer from 127.0.0.1:{port} within 0.3s\n"


def test_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    """Only the health endpoints can be probed."""
    assert client.main("metrics", "127.0.0.1", 1, 1.0) == 1
    assert "unknown target" in capsys.readouterr().out


def test_starts_without_the_http_stack() -> None:
    """Importing the probe loads no anyio, starlette, uvicorn or prometheus_client."""
    code = (
        "import sys, bots_runtime.web.client\n"
        "heavy = {'anyio', 'starlette', 'uvicorn', 'prometheus_client', 'structlog', 'h11'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stdout == "[]\n"


def test_listener_imports_only_stdlib() -> None:
    """The listener is imported before the child spawns: it must not load the HTTP stack."""
    code = (
        "import sys, bots_runtime.process.listener\n"
        "heavy = {'anyio', 'starlette', 'uvicorn', 'prometheus_client', 'structlog', 'h11'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stdout == "[]\n"
