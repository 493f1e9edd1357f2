"""The embedded HTTP server: uvicorn's h11 protocol inside the runtime's own event loop.

uvicorn is made a guest: it gets an already bound socket, installs no signal handlers,
configures no logging, waits on an event instead of a 100 ms tick, and shuts down without
uvicorn's fixed 100 ms pause. Slow or silent clients are cut off at a head deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any

import anyio
import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bots_runtime.process import listener

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from anyio.abc import TaskStatus
    from starlette.types import ASGIApp

# A probe request is a few hundred bytes; 16 KiB of headers is far more than any client needs.
MAX_HEAD_BYTES = 16 * 1024
# A client must finish its request head this many seconds after connecting (or after the
# previous response): a client that trickles bytes cannot hold a connection for ever.
HEAD_TIMEOUT = 5.0
KEEP_ALIVE = 5
# At shutdown, how long a response being written may take to finish; probes take < 1 ms.
CLOSE_WAIT = 1.0
_CLOSE_POLL = 0.005


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head.

    uvicorn has no such deadline of its own: a client sending one byte every 100 ms keeps
    a connection open for ever. Here it is closed `HEAD_TIMEOUT` seconds after it connected
    (or after its previous response) unless a whole request head has arrived. TCP_NODELAY is
    set again on each connection, in case the listening socket did not pass it on.
    """

    head_timeout = HEAD_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection and start the head deadline."""
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in {socket.AF_INET, socket.AF_INET6}:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        """Parse what arrived; a complete request head ends the deadline."""
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        """Answer sent: the next request head gets a fresh deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's loop: no signal handlers, an event instead of a poll."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started
        self.exit_event = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The runtime owns SIGTERM and SIGINT; uvicorn must not take them."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Listen, then tell the caller we are serving."""
        await super().startup(sockets=sockets)
        self._on_started()

    async def main_loop(self) -> None:
        """Wait for `HttpServer.shutdown()` instead of waking every 100 ms."""
        await self.on_tick(0)
        if not self.should_exit:
            await self.exit_event.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop listening, close idle connections, let responses in flight finish.

        uvicorn's own shutdown always sleeps 100 ms and then polls every 100 ms; a runtime
        whose child has exited should be gone in milliseconds, so this waits only while a
        connection is still writing, and at most `CLOSE_WAIT` seconds.
        """
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT
        # uvicorn drops a connection from its set with no event to wait on; this only loops
        # while a response is still being written, which for a probe is under a millisecond.
        while self.server_state.connections and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_CLOSE_POLL)
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        for server in self.servers:
            await server.wait_closed()


class HttpServer:
    """Serves an ASGI app on an already bound socket until `shutdown()`."""

    def __init__(
        self, app: ASGIApp, sock: socket.socket, *, head_timeout: float = HEAD_TIMEOUT
    ) -> None:
        self._sock = sock
        protocol = type("GuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout": head_timeout})
        self._config = uvicorn.Config(
            app,
            http=protocol,
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            backlog=listener.BACKLOG,  # asyncio listens again with this number
            timeout_keep_alive=KEEP_ALIVE,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        )
        self._server: _EmbeddedServer | None = None
        self._stop = False
        self._finished = anyio.Event()

    @property
    def connections(self) -> int:
        """Open client connections (exported as a metric)."""
        return 0 if self._server is None else len(self._server.server_state.connections)

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until `shutdown()`; `task_status.started()` once the socket accepts."""
        server = _EmbeddedServer(self._config, task_status.started)
        self._server = server
        if self._stop:
            server.should_exit = True
        try:
            await server.serve(sockets=[self._sock])
        finally:
            self._finished.set()

    def shutdown(self) -> None:
        """Stop accepting and close connections; `serve()` returns soon after (same thread)."""
        self._stop = True
        if self._server is not None:
            self._server.should_exit = True
            self._server.exit_event.set()

    async def close(self, within: float = CLOSE_WAIT + 1.0) -> bool:
        """`shutdown()` and wait up to `within` seconds for `serve()` to return; True if it did."""
        self.shutdown()
        if self._server is None:
            return True
        with anyio.move_on_after(within):
            await self._finished.wait()
        return self._finished.is_set()
