"""Each built-in probe against real servers and real directories on this machine."""

from __future__ import annotations

import http.server
import socket
import threading
import xmlrpc.server
from typing import TYPE_CHECKING

import anyio
import pytest

from bots_runtime.core.spec import CheckFailedError, CheckSkippedError, CheckSpec
from bots_runtime.web.checks import DURATION_BUCKETS, CheckRunner
from bots_runtime.web.probes import (
    CallableProbe,
    FreeSpaceProbe,
    HttpProbe,
    PathExistsProbe,
    PathWritableProbe,
    TcpProbe,
    XmlRpcProbe,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.anyio


@pytest.fixture(name="listening")
def _listening() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(name="refusing")
def _refusing() -> Iterator[int]:
    """A port that is bound but not listening: connections are refused, and no one takes it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = int(self.path.strip("/") or "200")
        self.send_response(code)
        if 300 <= code < 400:
            self.send_header("Location", "/200")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"not xml!!")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="web")
def _web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


class _Queue:
    """A stand-in for the jobqueue server's functions: records whether it was touched."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def getjob(self) -> int:
        self.calls.append("getjob")
        return 0

    def clearjobq(self) -> int:
        self.calls.append("clearjobq")
        return 0


@pytest.fixture(name="xmlrpc")
def _xmlrpc() -> Iterator[tuple[int, _Queue]]:
    queue = _Queue()
    server = xmlrpc.server.SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
    server.register_function(queue.getjob, "getjob")
    server.register_function(queue.clearjobq, "clearjobq")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], queue
    server.shutdown()
    server.server_close()
    thread.join(5)


class TestTcp:
    async def test_listening(self, listening: int) -> None:
        """A listening port passes."""
        assert await TcpProbe("127.0.0.1", listening)() == f"connected to 127.0.0.1:{listening}"

    async def test_refused(self, refusing: int) -> None:
        """A refused connection fails with the system's reason."""
        with pytest.raises(CheckFailedError, match=r"Connect call failed|refused"):
            await TcpProbe("127.0.0.1", refusing)()


class TestHttp:
    @pytest.mark.parametrize("code", [200, 204, 302, 399])
    async def test_default_range_passes(self, web: int, code: int) -> None:
        """Like the kubelet: any status from 200 to 399 passes, redirects are not followed."""
        detail = await HttpProbe(f"http://127.0.0.1:{web}/{code}")()
        assert detail.endswith(f"answered {code}")

    @pytest.mark.parametrize("code", [404, 500, 503])
    async def test_error_status_fails(self, web: int, code: int) -> None:
        """A status outside the range fails and names it."""
        with pytest.raises(CheckFailedError, match=f"answered {code}, expected 200-399"):
            await HttpProbe(f"http://127.0.0.1:{web}/{code}")()

    async def test_custom_range(self, web: int) -> None:
        """The expected range is configurable: (200, 200) rejects a redirect."""
        with pytest.raises(CheckFailedError, match="answered 302"):
            await HttpProbe(f"http://127.0.0.1:{web}/302", statuses=(200, 200))()

    async def test_nothing_listening(self, refusing: int) -> None:
        """No server: the probe fails with a reason, not a hang."""
        with pytest.raises(CheckFailedError, match="cannot connect"):
            await HttpProbe(f"http://127.0.0.1:{refusing}/")()

    async def test_password_not_in_reason(self, refusing: int) -> None:
        """User and password in the URL never appear in a reason."""
        with pytest.raises(CheckFailedError) as caught:
            await HttpProbe(f"http://admin:hunter2@127.0.0.1:{refusing}/x")()
        assert "hunter2" not in str(caught.value)
        assert "admin" not in str(caught.value)

    async def test_not_http(self) -> None:
        """A server that does not speak HTTP fails (closed without a reply)."""
        with anyio.fail_after(5):
            server = await anyio.create_tcp_listener(local_host="127.0.0.1")
            port = server.extra(anyio.abc.SocketAttribute.local_port)

            async def answer(stream: anyio.abc.SocketStream) -> None:
                async with stream:
                    await stream.send(b"220 smtp ready\r\n")

            async with server, anyio.create_task_group() as group:
                group.start_soon(server.serve, answer)
                with pytest.raises(CheckFailedError, match="no HTTP reply"):
                    await HttpProbe(f"http://127.0.0.1:{port}/")()
                group.cancel_scope.cancel()


class TestXmlRpc:
    async def test_fault_means_alive(self, xmlrpc: tuple[int, _Queue]) -> None:
        """An unknown method gets a Fault: that counts as alive, and the queue is untouched."""
        port, queue = xmlrpc
        detail = await XmlRpcProbe(f"http://127.0.0.1:{port}/")()
        assert "fault" in detail.lower()
        assert queue.calls == []

    async def test_plain_http_fails(self, web: int) -> None:
        """An HTTP server answering something that is not XML-RPC fails."""
        with pytest.raises(CheckFailedError, match="bad reply"):
            await XmlRpcProbe(f"http://127.0.0.1:{web}/")()

    async def test_nothing_listening(self, refusing: int) -> None:
        """No server: the probe fails."""
        with pytest.raises(CheckFailedError, match="cannot connect"):
            await XmlRpcProbe(f"http://127.0.0.1:{refusing}/")()

    async def test_wrong_path_fails(self, xmlrpc: tuple[int, _Queue]) -> None:
        """A path the XML-RPC server does not serve answers 404, which fails."""
        port, _ = xmlrpc
        with pytest.raises(CheckFailedError, match="HTTP 404"):
            await XmlRpcProbe(f"http://127.0.0.1:{port}/nope")()


class TestPaths:
    async def test_writable_leaves_nothing(self, tmp_path: Path) -> None:
        """A writable directory passes and the probe leaves no file behind."""
        assert await PathWritableProbe(str(tmp_path))() == f"{tmp_path} is writable"
        assert list(tmp_path.iterdir()) == []

    async def test_writable_missing_dir(self, tmp_path: Path) -> None:
        """A directory that does not exist fails."""
        with pytest.raises(CheckFailedError, match="No such file or directory"):
            await PathWritableProbe(str(tmp_path / "gone"))()

    async def test_writable_read_only_mount(self) -> None:
        """A read-only file system fails (even for root)."""
        with pytest.raises(CheckFailedError):
            await PathWritableProbe("/proc")()

    async def test_exists(self, tmp_path: Path) -> None:
        """An existing path passes, a missing one fails."""
        assert await PathExistsProbe(str(tmp_path))() == f"{tmp_path} exists"
        with pytest.raises(CheckFailedError, match="does not exist"):
            await PathExistsProbe(str(tmp_path / "gone"))()

    async def test_free_space(self, tmp_path: Path) -> None:
        """Enough free space passes; a threshold above the disk size fails with numbers."""
        assert "bytes free" in await FreeSpaceProbe(str(tmp_path), 1)()
        with pytest.raises(CheckFailedError, match="below 4611686018427387904"):
            await FreeSpaceProbe(str(tmp_path), 2**62)()


class TestCallable:
    async def test_returns_detail(self) -> None:
        """An async callable's result is the detail."""

        async def fine() -> str:
            return "all good"

        assert await CallableProbe(fine)() == "all good"

    async def test_raises(self) -> None:
        """An exception from the callable is the failure."""

        async def broken() -> str:
            raise CheckFailedError("broken")

        with pytest.raises(CheckFailedError, match="broken"):
            await CallableProbe(broken)()


class _Script:
    """A probe that follows a script of outcomes (True pass, False fail)."""

    def __init__(self, *outcomes: bool) -> None:
        self.outcomes = list(outcomes)

    async def __call__(self) -> str:
        if self.outcomes.pop(0):
            return "pass"
        raise CheckFailedError("fail")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class TestRunner:
    async def test_threshold_and_since(self) -> None:
        """ok turns false only after failure_threshold failures in a row; since marks flips."""
        spec = CheckSpec(
            "x", _Script(*[False, True, False, False, False, True]), failure_threshold=3
        )
        clock = _Clock()
        runner = CheckRunner([spec], clock=clock)
        seen = []
        for _ in range(6):
            result = await runner.run_once(spec)
            seen.append((result.ok, result.failures_in_a_row, result.since))
        assert seen == [
            (False, 1, 1002.0),  # never passed yet: not ok (the kubelet's start state)
            (True, 0, 1004.0),
            (True, 1, 1004.0),
            (True, 2, 1004.0),
            (False, 3, 1010.0),
            (True, 0, 1012.0),
        ]
        assert runner.failures_total == {"x": 4}
        assert runner.durations["x"].count == 6

    async def test_timeout_is_failure(self) -> None:
        """A probe past its timeout fails, and its duration is the timeout."""

        async def slow() -> str:
            await anyio.sleep(10)
            return "late"

        spec = CheckSpec("slow", CallableProbe(slow), timeout=0.2)
        runner = CheckRunner([spec])
        with anyio.fail_after(2):
            result = await runner.run_once(spec)
        assert (result.ok, result.detail) == (False, "timed out after 0.2s")
        assert 0.2 <= result.duration < 0.5
        assert runner.durations["slow"].counts[DURATION_BUCKETS.index(0.25)] == 1

    async def test_skipped_is_not_checked(self) -> None:
        """A probe that cannot tell (CheckSkippedError) is recorded as not checked: no
        failure counted, ok for the verdict, checked false, its reason kept."""

        async def cannot_tell() -> str:
            raise CheckSkippedError("no driver for mysql in /usr/bin/python3")

        spec = CheckSpec("db", CallableProbe(cannot_tell))
        runner = CheckRunner([spec])
        result = await runner.run_once(spec)
        assert (result.ok, result.checked) == (True, False)
        assert result.detail == "no driver for mysql in /usr/bin/python3"
        assert runner.failures_total == {"db": 0}

    async def test_unexpected_exception_is_failure(self) -> None:
        """Any exception from a probe is a failed result with its message, on one line."""

        async def crash() -> str:
            raise ValueError("line one\nline two")

        spec = CheckSpec("crash", CallableProbe(crash))
        result = await CheckRunner([spec]).run_once(spec)
        assert (result.ok, result.detail) == (False, "line one line two")

    async def test_runs_on_interval(self) -> None:
        """run() repeats each check on its own interval until cancelled."""
        calls: list[str] = []

        async def fast() -> str:
            calls.append("fast")
            return "ok"

        async def slow() -> str:
            calls.append("slow")
            return "ok"

        runner = CheckRunner(
            [
                CheckSpec("fast", CallableProbe(fast), interval=0.05),
                CheckSpec("slow", CallableProbe(slow), interval=10),
            ]
        )
        async with anyio.create_task_group() as group:
            group.start_soon(runner.run)
            with anyio.fail_after(3):
                while calls.count("fast") < 5:
                    await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        assert calls.count("slow") == 1
        assert set(runner.results()) == {"fast", "slow"}

    def test_duplicate_names_refused(self) -> None:
        """Two checks with one name would hide each other: refused at construction."""
        spec = CheckSpec("x", CallableProbe(_Script()))
        with pytest.raises(ValueError, match="unique"):
            CheckRunner([spec, spec])

    async def test_hung_file_system_call_is_abandoned(self, tmp_path: Path) -> None:
        """A blocking file-system call that hangs is abandoned at the timeout (thread left)."""
        release = threading.Event()

        def stuck(path: str) -> str:
            release.wait(10)
            return path

        from bots_runtime.web import probes  # noqa: PLC0415

        async def hang() -> str:
            return await probes._in_thread(stuck, str(tmp_path))

        spec = CheckSpec("nfs", CallableProbe(hang), timeout=0.2)
        try:
            with anyio.fail_after(2):
                result = await CheckRunner([spec]).run_once(spec)
        finally:
            release.set()
        assert result.detail == "timed out after 0.2s"


@pytest.fixture(name="tls_web")
def _tls_web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A real HTTPS server with a self-signed certificate that this process trusts."""
    import shutil  # noqa: PLC0415
    import ssl  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


class TestHttps:
    async def test_trusted_certificate(self, tls_web: int) -> None:
        """https URLs are checked over TLS with the system's trust store (here: our CA)."""
        assert (await HttpProbe(f"https://localhost:{tls_web}/204")()).endswith("answered 204")

    async def test_wrong_host_name_fails(self, tls_web: int) -> None:
        """A certificate for another name fails the check instead of being trusted."""
        with pytest.raises(CheckFailedError, match="certificate verify failed"):
            await HttpProbe(f"https://127.0.0.1:{tls_web}/200")()


class TestDatabaseProbe:
    """The database check against SQLite for real; a kind without a driver is not checked."""

    async def test_sqlite_answers(self, tmp_path: Path) -> None:
        """A SQLite file with Bots' mutex table answers, read-only, naming the driver."""
        import sqlite3  # noqa: PLC0415

        from bots_runtime.bots.database import DatabaseProbe  # noqa: PLC0415
        from bots_runtime.bots.environment import Database  # noqa: PLC0415

        path = tmp_path / "botsdb"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE mutex (mutexk integer)")
        probe = DatabaseProbe(Database("django.db.backends.sqlite3", str(path)))
        assert await probe() == f"sqlite {path} answers through sqlite3 (no engine lock)"

    async def test_missing_driver_is_not_checked(self) -> None:
        """No importable driver for the server's kind: CheckSkippedError naming the package
        and this interpreter, never a pass; the password is not in it."""
        from bots_runtime.bots.database import DatabaseProbe  # noqa: PLC0415
        from bots_runtime.bots.environment import Database  # noqa: PLC0415

        database = Database(
            "django.db.backends.mysql", "botsdb", "db.example", "3306", "bots", "s3cret"
        )
        probe = DatabaseProbe(database, drivers=("bots_runtime_no_such_driver",))
        with pytest.raises(CheckSkippedError, match=r"no driver for mysql") as err:
            await probe()
        assert "mysql bots@db.example:3306/botsdb" in str(err.value)
        assert "s3cret" not in str(err.value)
