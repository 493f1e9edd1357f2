"""The health and metrics server: a small starlette app on uvicorn, inside the runtime's loop.

Every endpoint only reads: the board the supervisor publishes, the check runner's latest
results and the metrics registry. Answers therefore cost a fraction of a millisecond and never
wait on a check, a child or a slow client.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import TYPE_CHECKING, Any

import anyio
import h11
import uvicorn
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from bots_runtime import health

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Iterator

    from anyio.abc import TaskStatus
    from prometheus_client import CollectorRegistry
    from starlette.requests import Request
    from starlette.types import ASGIApp

    from bots_runtime.checks import CheckRunner
    from bots_runtime.state import Board

# A probe request is a few hundred bytes; 16 KiB of headers is far more than any client needs.
MAX_HEAD_BYTES = 16 * 1024
# A client must finish its request head this many seconds after connecting (or after the
# previous response): a client that trickles bytes cannot hold a connection for ever.
HEAD_TIMEOUT = 5.0
KEEP_ALIVE = 5
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def create_app(
    board: Board,
    runner: CheckRunner,
    registry: CollectorRegistry,
    *,
    liveness_threshold: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The app: `/healthz` (alias `/livez`), `/readyz`, one path per check, and `/metrics`."""

    def answer(request: Request, endpoint: str, only: str | None) -> Response:
        try:
            verdict = health.evaluate(
                endpoint,
                board.snapshot,
                runner.results(),
                runner.specs,
                exclude=request.query_params.getlist("exclude"),
                only=only,
                now=clock(),
                liveness_threshold=liveness_threshold,
            )
        except health.UnknownCheckError:
            return PlainTextResponse(f"no check named {only!r} in {endpoint}\n", 404, _HEADERS)
        if _wants_json(request):
            body = {
                "status": "ok" if verdict.ok else "failed",
                "endpoint": endpoint,
                "checks": [
                    {
                        "name": line.name,
                        "ok": line.ok,
                        "reason": line.reason,
                        "excluded": line.excluded,
                    }
                    for line in verdict.lines
                ],
            }
            return Response(json.dumps(body) + "\n", verdict.status, _HEADERS, "application/json")
        verbose = "verbose" in request.query_params
        return PlainTextResponse(verdict.render(verbose=verbose), verdict.status, _HEADERS)

    def endpoint_route(path: str, endpoint: str) -> list[Route]:
        async def whole(request: Request) -> Response:
            return answer(request, endpoint, None)

        async def single(request: Request) -> Response:
            return answer(request, endpoint, request.path_params["name"])

        return [
            Route(path, whole, methods=["GET"]),
            Route(path + "/{name}", single, methods=["GET"]),
        ]

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), 200, {"Cache-Control": "no-store"}, content_type)

    routes = [
        *endpoint_route("/healthz", "healthz"),
        *endpoint_route("/livez", "livez"),
        *endpoint_route("/readyz", "readyz"),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes)


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
        self.exit_event: anyio.Event | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The runtime owns SIGTERM and SIGINT; uvicorn must not take them."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Listen, then tell the caller we are serving."""
        await super().startup(sockets=sockets)
        self._on_started()

    async def main_loop(self) -> None:
        """Wait for `shutdown()` instead of waking every 100 ms."""
        await self.on_tick(0)
        if self.exit_event is not None and not self.should_exit:
            await self.exit_event.wait()


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
            backlog=128,
            timeout_keep_alive=KEEP_ALIVE,
            timeout_graceful_shutdown=1,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        )
        self._server: _EmbeddedServer | None = None
        self._stop = False

    @property
    def connections(self) -> int:
        """Open client connections (for tests and diagnostics)."""
        return 0 if self._server is None else len(self._server.server_state.connections)

    def client_sockets(self) -> list[socket.socket]:
        """The server side of each open connection (for tests)."""
        if self._server is None:
            return []
        found = []
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                found.append(sock)
        return found

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until `shutdown()`; `task_status.started()` once the socket accepts."""
        server = _EmbeddedServer(self._config, task_status.started)
        server.exit_event = anyio.Event()
        self._server = server
        if self._stop:
            server.should_exit = True
        await server.serve(sockets=[self._sock])

    def shutdown(self) -> None:
        """Stop accepting and close connections; `serve()` returns soon after (same thread)."""
        self._stop = True
        if self._server is not None:
            self._server.should_exit = True
            if self._server.exit_event is not None:
                self._server.exit_event.set()
