"""Shared helpers for the HTTP tests: a real server on 127.0.0.1 port 0, raw requests, waits."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from bots_runtime.core.state import Board, Phase, Snapshot
from bots_runtime.process.listener import bind
from bots_runtime.web.app import create_app
from bots_runtime.web.checks import CheckRunner
from bots_runtime.web.metrics import build_registry
from bots_runtime.web.server import HEAD_TIMEOUT, HttpServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from anyio.abc import TaskGroup
    from prometheus_client import CollectorRegistry

    from bots_runtime.core.spec import CheckSpec


def board_in(phase: Phase, **changes: object) -> Board:
    """A board whose snapshot is in `phase` (with a pid when a child would exist)."""
    alive = phase in {Phase.STARTING, Phase.RUNNING, Phase.STOPPING}
    snap = Snapshot(service="svc", phase=phase, pid=4242 if alive else None, spawned_mono=0.0)
    return Board(dataclasses.replace(snap, **changes))  # type: ignore[arg-type]


@dataclass
class Served:
    """A running server and what it serves."""

    server: HttpServer
    port: int
    board: Board
    runner: CheckRunner
    registry: CollectorRegistry
    group: TaskGroup

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serving(
    board: Board,
    specs: Sequence[CheckSpec] = (),
    *,
    run_checks: bool = False,
    liveness_threshold: float = 30.0,
    head_timeout: float = HEAD_TIMEOUT,
    child_pid: Callable[[], int | None] | None = None,
) -> AsyncIterator[Served]:
    """Serve the real app through uvicorn on an ephemeral loopback port until the block ends."""
    runner = CheckRunner(specs)
    registry = build_registry(board, runner, version="test", service="svc", child_pid=child_pid)
    app = create_app(board, runner, registry, liveness_threshold=liveness_threshold)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = HttpServer(app, sock, head_timeout=head_timeout)
    async with anyio.create_task_group() as group:
        await group.start(server.serve)
        checks = anyio.CancelScope()
        if run_checks:

            async def run() -> None:
                with checks:
                    await runner.run()

            group.start_soon(run)
        try:
            yield Served(server, port, board, runner, registry, group)
        finally:
            checks.cancel()
            server.shutdown()


async def request(
    port: int, raw: bytes, *, host: str = "127.0.0.1", limit: float = 5.0
) -> tuple[int, bytes]:
    """Send raw bytes on a new connection, read until the server closes, return status and body."""
    with anyio.fail_after(limit):
        async with await anyio.connect_tcp(host, port) as stream:
            await stream.send(raw)
            reply = bytearray()
            while True:
                try:
                    reply += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    head, _, body = bytes(reply).partition(b"\r\n\r\n")
    if not head:
        return 0, b""
    return int(head.split()[1]), body


async def get(port: int, path: str, *, accept: str = "*/*", limit: float = 5.0) -> tuple[int, str]:
    """`GET path` on a new connection, as the kubelet probes."""
    raw = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
        "User-Agent: kube-probe/1.31\r\nConnection: close\r\n\r\n"
    ).encode()
    status, body = await request(port, raw, limit=limit)
    return status, body.decode()


async def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> float:
    """Wait until `condition()` holds (bounded); return how long it took."""
    begun = time.monotonic()
    with anyio.fail_after(limit):
        while not condition():
            await anyio.sleep(0.01)
    return time.monotonic() - begun


def publish(board: Board, **changes: object) -> None:
    """Replace fields of the board's snapshot, as the supervisor would."""
    board.publish(dataclasses.replace(board.snapshot, **changes))  # type: ignore[arg-type]
