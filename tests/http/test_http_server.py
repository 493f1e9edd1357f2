"""The app through real uvicorn on 127.0.0.1: probes keep answering whatever clients do."""

from __future__ import annotations

import resource
import socket
import statistics
import time

import anyio
import pytest

from bots_runtime.core.spec import CheckSpec, Level
from bots_runtime.core.state import Phase
from bots_runtime.process.listener import BindError, bind
from bots_runtime.web.app import create_app
from bots_runtime.web.probes import CallableProbe
from bots_runtime.web.server import MAX_HEAD_BYTES, HttpServer
from tests.http.kit import board_in, get, request, serving, wait_until
from tests.support import RuntimeFactory

pytestmark = pytest.mark.anyio

# A probe must be answered well inside the kubelet's 1 s timeout even while a bad client is busy.
PROBE_BUDGET = 0.25


async def timed_probe(port: int, path: str = "/readyz") -> tuple[int, float]:
    begun = time.monotonic()
    status, _ = await get(port, path)
    return status, time.monotonic() - begun


class TestServing:
    async def test_endpoints_over_tcp(self) -> None:
        """Real uvicorn answers /healthz, /livez, /readyz and /metrics on a loopback port."""
        async with serving(board_in(Phase.RUNNING)) as served:
            assert await get(served.port, "/healthz") == (200, "ok\n")
            assert await get(served.port, "/livez") == (200, "ok\n")
            assert await get(served.port, "/readyz") == (200, "ok\n")
            status, body = await get(served.port, "/metrics")
            assert status == 200
            assert "bots_runtime_child_up 1.0" in body

    async def test_no_server_header(self) -> None:
        """Answers do not advertise the server software."""
        async with (
            serving(board_in(Phase.RUNNING)) as served,
            await anyio.connect_tcp("127.0.0.1", served.port) as stream,
        ):
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while not reply.endswith(b"ok\n"):
                reply += await stream.receive()
        head = reply.split(b"\r\n\r\n")[0].lower()
        assert head.startswith(b"http/1.1 200")
        assert b"\r\nserver:" not in head

    async def test_accepted_connections_have_nodelay(self) -> None:
        """TCP_NODELAY is on for the server side of every accepted connection."""
        async with (
            serving(board_in(Phase.RUNNING)) as served,
            await anyio.connect_tcp("127.0.0.1", served.port) as stream,
        ):
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await stream.receive()
            await wait_until(lambda: served.server.connections == 1)
            (sock,) = server_sockets(served.server)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0

    async def test_keep_alive_latency(self) -> None:
        """Keep-alive probes take well under 10 ms (no 40 ms Nagle/delayed-ACK stall)."""
        async with serving(board_in(Phase.RUNNING)) as served:
            times = []
            async with await anyio.connect_tcp("127.0.0.1", served.port) as stream:
                for _ in range(50):
                    begun = time.monotonic()
                    await stream.send(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                    reply = b""
                    while not reply.endswith(b"ok\n"):
                        reply += await stream.receive()
                    times.append(time.monotonic() - begun)
            times.sort()
            assert times[int(len(times) * 0.99) - 1] < 0.010, times
            assert statistics.median(times) < 0.005


class TestBadClients:
    async def test_slow_client_does_not_block_probes(self) -> None:
        """1. A client sends a request one byte per 100 ms.
        2. Probes on new connections meanwhile are answered within the budget.
        3. The slow client is cut off at the head deadline (1 s here), not served for ever.
        """
        async with serving(board_in(Phase.RUNNING), head_timeout=1.0) as served:
            closed = anyio.Event()

            async def trickle() -> None:
                raw = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
                async with await anyio.connect_tcp("127.0.0.1", served.port) as stream:
                    try:
                        for byte in raw:
                            await stream.send(bytes([byte]))
                            await anyio.sleep(0.1)
                    except (anyio.BrokenResourceError, OSError):
                        closed.set()

            async with anyio.create_task_group() as group:
                group.start_soon(trickle)
                await wait_until(lambda: served.server.connections == 1)
                for _ in range(5):
                    status, took = await timed_probe(served.port)
                    assert status == 200
                    assert took < PROBE_BUDGET
                with anyio.fail_after(3):
                    await closed.wait()
            assert served.server.connections == 0

    async def test_idle_connection_is_closed(self) -> None:
        """A connection that never sends anything is closed at the head deadline."""
        async with (
            serving(board_in(Phase.RUNNING), head_timeout=0.5) as served,
            await anyio.connect_tcp("127.0.0.1", served.port) as stream,
        ):
            begun = time.monotonic()
            with (
                anyio.fail_after(3),
                pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)),
            ):
                await stream.receive()
            assert 0.4 < time.monotonic() - begun < 2.0

    @pytest.mark.parametrize(
        "raw",
        [
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
            b"GET /readyz HTTP/1.1\r\nHost x\r\n\r\n",  # header without colon
            b"BLAH\r\n\r\n",
        ],
    )
    async def test_malformed_request(self, raw: bytes) -> None:
        """A malformed request gets 400 (or a close) and probes are still answered."""
        async with serving(board_in(Phase.RUNNING)) as served:
            status, _ = await request(served.port, raw)
            assert status in {0, 400}
            status, took = await timed_probe(served.port)
            assert (status, took < PROBE_BUDGET) == (200, True)

    async def test_oversized_header(self) -> None:
        """A request head growing past the limit gets 400 and a close; probes still answered."""
        async with serving(board_in(Phase.RUNNING)) as served:
            big = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES * 2)
            status, _ = await request(served.port, big, limit=2)
            assert status == 400
            status, took = await timed_probe(served.port)
            assert (status, took < PROBE_BUDGET) == (200, True)

    async def test_many_idle_connections(self) -> None:
        """Fifty idle connections do not stop a probe from being answered."""
        async with serving(board_in(Phase.RUNNING)) as served:
            streams = [await anyio.connect_tcp("127.0.0.1", served.port) for _ in range(50)]
            try:
                await wait_until(lambda: served.server.connections >= 50)
                status, took = await timed_probe(served.port)
                assert (status, took < PROBE_BUDGET) == (200, True)
            finally:
                for stream in streams:
                    await stream.aclose()


class TestLifecycle:
    async def test_shutdown_is_prompt(self) -> None:
        """shutdown() makes serve() return in under a second, with idle and slow clients open."""
        board = board_in(Phase.RUNNING)
        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        from bots_runtime.web.checks import CheckRunner  # noqa: PLC0415
        from bots_runtime.web.metrics import build_registry  # noqa: PLC0415

        runner = CheckRunner(())
        app = create_app(board, runner, build_registry(board, runner, version="t", service="s"))
        server = HttpServer(app, sock)
        returned = anyio.Event()

        async with anyio.create_task_group() as group:

            async def run(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                await server.serve(task_status=task_status)
                returned.set()

            await group.start(run)
            idle = await anyio.connect_tcp("127.0.0.1", port)
            slow = await anyio.connect_tcp("127.0.0.1", port)
            await slow.send(b"GET /rea")
            keep = await anyio.connect_tcp("127.0.0.1", port)
            await keep.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await keep.receive()
            await wait_until(lambda: server.connections == 3)
            begun = time.monotonic()
            server.shutdown()
            with anyio.fail_after(1):
                await returned.wait()
            took = time.monotonic() - begun
            for stream in (idle, slow, keep):
                await stream.aclose()
        assert took < 1.0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    async def test_shutdown_before_serve(self) -> None:
        """A shutdown() that comes before serve() makes serve() return at once."""
        from bots_runtime.web.checks import CheckRunner  # noqa: PLC0415
        from bots_runtime.web.metrics import build_registry  # noqa: PLC0415

        board = board_in(Phase.RUNNING)
        runner = CheckRunner(())
        app = create_app(board, runner, build_registry(board, runner, version="t", service="s"))
        server = HttpServer(app, bind("127.0.0.1", 0))
        server.shutdown()
        with anyio.fail_after(1):
            await server.serve()


class TestBind:
    def test_port_in_use_is_one_line(self) -> None:
        """A port already listened on gives BindError with one line naming the port."""
        first = bind("127.0.0.1", 0)
        port = first.getsockname()[1]
        try:
            with pytest.raises(BindError) as caught:
                bind("127.0.0.1", port)
        finally:
            first.close()
        message = str(caught.value)
        assert message == f"--port {port}: address 127.0.0.1:{port} is already in use"
        assert "\n" not in message

    def test_socket_options(self) -> None:
        """The listener is non-blocking, has TCP_NODELAY and SO_REUSEADDR."""
        sock = bind("127.0.0.1", 0)
        try:
            assert not sock.getblocking()
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        finally:
            sock.close()

    def test_ipv6_literal(self) -> None:
        """An IPv6 literal binds an AF_INET6 socket."""
        try:
            sock = bind("::1", 0)
        except BindError as exc:
            pytest.skip(f"no IPv6 loopback here: {exc}")
        try:
            assert sock.family == socket.AF_INET6
            with socket.create_connection(("::1", sock.getsockname()[1]), timeout=1):
                pass
        finally:
            sock.close()

    def test_wildcard_ipv6_is_dual_stack(self) -> None:
        """`::` accepts IPv4 connections too, so one listener serves both families."""
        try:
            sock = bind("::", 0)
        except BindError as exc:
            pytest.skip(f"no IPv6 here: {exc}")
        try:
            with socket.create_connection(("127.0.0.1", sock.getsockname()[1]), timeout=1):
                pass
        finally:
            sock.close()

    def test_foreign_address(self) -> None:
        """An address this machine does not have is a one-line BindError."""
        with pytest.raises(BindError, match="is not an address of this machine"):
            bind("192.0.2.1", 0)

    def test_unresolvable_host(self) -> None:
        """A host name that does not resolve is a one-line BindError."""
        with pytest.raises(BindError, match="cannot resolve host"):
            bind("no-such-host.invalid", 0)


async def test_hanging_check_does_not_delay_probes() -> None:
    """1. A readiness check hangs for ever (timeout 0.3 s).
    2. /readyz answers at once while the check is hanging.
    3. After the timeout the check is reported failed, and /readyz says why.
    """
    hanging = anyio.Event()

    async def hang() -> str:
        hanging.set()
        await anyio.sleep_forever()
        return "never"

    specs = [CheckSpec("stuck", CallableProbe(hang), level=Level.READINESS, timeout=0.3)]
    async with serving(board_in(Phase.RUNNING), specs, run_checks=True) as served:
        with anyio.fail_after(2):
            await hanging.wait()
        status, took = await timed_probe(served.port)
        assert status == 503
        assert took < 0.1
        await wait_until(lambda: "stuck" in served.runner.results(), limit=2)
        result = served.runner.results()["stuck"]
        assert not result.ok
        assert result.detail == "timed out after 0.3s"
        assert 0.3 <= result.duration < 0.6
        status, body = await get(served.port, "/readyz?verbose")
        assert status == 503
        assert "[-]stuck failed: timed out after 0.3s" in body.splitlines()
        status, took = await timed_probe(served.port, "/healthz")
        assert (status, took < 0.1) == (200, True)


def server_sockets(server: HttpServer) -> list[socket.socket]:
    """The server side of each open connection, read from uvicorn's own state."""
    assert server._server is not None
    found = []
    for connection in server._server.server_state.connections:
        transport = getattr(connection, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            found.append(sock)
    return found


def test_connection_burst_never_waits_for_a_syn_retransmit(runtime: RuntimeFactory) -> None:
    """3,000 connections opened back to back (faster than any server accepts them) all get
    through at once: the listen queue is deep enough that the kernel never drops a SYN, which
    would cost a probe TCP's 1 s retransmit (before, with 128: a dozen such stalls)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4000), hard))
    rt = runtime("run", "--", "sleep", "60", health=True)
    port = rt.port
    rt.wait_status("/healthz", 200)
    held: list[socket.socket] = []
    worst = 0.0
    try:
        for _ in range(3000):
            begun = time.monotonic()
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            worst = max(worst, time.monotonic() - begun)
        assert rt.status("/readyz") in {200, 503}
    finally:
        for sock in held:
            sock.close()
    assert worst < 0.9, f"a connect waited {worst:.2f} s: a dropped SYN"
