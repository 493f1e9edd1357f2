"""The built-in probes: TCP, HTTP, XML-RPC, paths, free space, and any async callable.

Probes are frozen dataclasses built with the service spec, before the child is spawned, so
anyio is imported inside `__call__`, not at module load. Each returns a short detail when
healthy and raises `CheckFailedError` with a one-line reason when not; blocking file-system
work runs in a worker thread so a hung mount is abandoned at the check's timeout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bots_runtime.core.spec import CheckFailedError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import ByteStream

_MAX_REPLY = 64 * 1024
_MAX_REASON = 200


def one_line(text: str) -> str:
    """A reason fit for a probe body: one line, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_REASON else flat[: _MAX_REASON - 3] + "..."


def failure_reason(exc: BaseException) -> str:
    """The most telling message: anyio hides "Connection refused" behind its own words."""
    cause = exc.__cause__
    while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return one_line(text) if text else type(exc).__name__


def _safe_url(url: str) -> str:
    """The URL without user and password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


@dataclass(frozen=True, slots=True)
class TcpProbe:
    """Alive when a TCP connection to `host`:`port` is accepted (the webserver, a database)."""

    host: str
    port: int

    async def __call__(self) -> str:
        """Connect once, then close."""
        import anyio  # noqa: PLC0415 - kept out of start-up

        try:
            stream = await anyio.connect_tcp(self.host, self.port)
        except OSError as exc:
            raise CheckFailedError(
                f"cannot connect to {self.host}:{self.port}: {failure_reason(exc)}"
            ) from None
        await stream.aclose()
        return f"connected to {self.host}:{self.port}"


async def _exchange(url: str, request: bytes) -> bytes:
    """Send one HTTP/1.1 request with `Connection: close` and return the raw reply (bounded)."""
    import anyio  # noqa: PLC0415 - kept out of start-up

    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise CheckFailedError(f"not an http(s) URL: {_safe_url(url)}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    try:
        stream: ByteStream = (
            await anyio.connect_tcp(parts.hostname, port, tls=True, tls_standard_compatible=False)
            if tls
            else await anyio.connect_tcp(parts.hostname, port)
        )
    except OSError as exc:
        raise CheckFailedError(
            f"cannot connect to {_safe_url(url)}: {failure_reason(exc)}"
        ) from None
    async with stream:
        await stream.send(request)
        reply = bytearray()
        while len(reply) < _MAX_REPLY:
            try:
                chunk = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                break
            reply += chunk
    return bytes(reply)


def _request(
    method: str, url: str, body: bytes = b"", content_type: str = "", host: str | None = None
) -> bytes:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = host or parts.netloc.rpartition("@")[2]
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: bots-runtime-check",
        "Accept: */*",
        "Connection: close",
    ]
    if body or method == "POST":
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def _status(reply: bytes, url: str) -> tuple[int, bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if (
        len(status_line) < 2
        or not status_line[0].startswith(b"HTTP/")
        or not status_line[1].isdigit()
    ):
        raise CheckFailedError(f"no HTTP reply from {_safe_url(url)}")
    return int(status_line[1]), body


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """Alive when `GET url` answers with a status in `statuses` (inclusive), as the kubelet does.

    `host` replaces the URL's own in the Host header (kubelet's `httpHeaders: Host`), for a
    server that only answers to certain names.
    """

    url: str
    statuses: tuple[int, int] = (200, 399)
    host: str | None = None

    async def __call__(self) -> str:
        """GET once and compare the status."""
        request = _request("GET", self.url, host=self.host)
        status, _ = _status(await _exchange(self.url, request), self.url)
        low, high = self.statuses
        if not low <= status <= high:
            raise CheckFailedError(
                f"GET {_safe_url(self.url)} answered {status}, expected {low}-{high}"
            )
        return f"GET {_safe_url(self.url)} answered {status}"


@dataclass(frozen=True, slots=True)
class XmlRpcProbe:
    """Alive when an XML-RPC server answers a call to a method that does not exist.

    The Bots jobqueue server replies to an unknown method with a Fault: that proves the
    server reads requests and answers, without touching the queue (never `getjob` or
    `clearjobq`, which change it).
    """

    url: str
    method: str = "bots_runtime.health"

    async def __call__(self) -> str:
        """POST one call; a Fault or a reply both prove the server answers."""
        import xmlrpc.client  # noqa: PLC0415 - it pulls in http.client and email: start-up cost

        body = xmlrpc.client.dumps((), self.method).encode()
        request = _request("POST", self.url, body, "text/xml")
        status, payload = _status(await _exchange(self.url, request), self.url)
        if status != 200:
            raise CheckFailedError(f"XML-RPC {_safe_url(self.url)} answered HTTP {status}")
        try:
            xmlrpc.client.loads(payload)
        except xmlrpc.client.Fault as fault:
            return f"XML-RPC fault {fault.faultCode} (server alive)"
        except Exception as exc:  # noqa: BLE001 - any parse error means a broken reply
            raise CheckFailedError(
                f"XML-RPC {_safe_url(self.url)}: bad reply: {failure_reason(exc)}"
            ) from None
        return "XML-RPC reply (server alive)"


def _writable(path: str) -> str:
    import tempfile  # noqa: PLC0415 - only checks that write need it

    fd, name = tempfile.mkstemp(prefix=".bots-runtime-check-", dir=path)
    try:
        os.write(fd, b"ok\n")
    finally:
        os.close(fd)
        Path(name).unlink()
    return f"{path} is writable"


def _exists(path: str) -> str:
    if not Path(path).exists():
        raise CheckFailedError(f"{path} does not exist")
    return f"{path} exists"


def _free(path: str, min_bytes: int) -> str:
    stat = os.statvfs(path)
    free = stat.f_bavail * stat.f_frsize
    if free < min_bytes:
        raise CheckFailedError(f"{path}: {free} bytes free, below {min_bytes}")
    return f"{path}: {free} bytes free"


async def _in_thread(func: Callable[..., str], *args: object) -> str:
    """Run blocking file-system work off the loop; a hung mount is abandoned at the timeout."""
    import anyio.to_thread  # noqa: PLC0415 - kept out of start-up

    try:
        return await anyio.to_thread.run_sync(func, *args, abandon_on_cancel=True)
    except OSError as exc:
        raise CheckFailedError(failure_reason(exc)) from None


@dataclass(frozen=True, slots=True)
class PathWritableProbe:
    """Alive when a file can be created and removed in directory `path` (the Bots data dir)."""

    path: str

    async def __call__(self) -> str:
        """Create, write and remove a temporary file."""
        return await _in_thread(_writable, self.path)


@dataclass(frozen=True, slots=True)
class PathExistsProbe:
    """Alive when `path` exists (a mounted volume, a config file)."""

    path: str

    async def __call__(self) -> str:
        """Look the path up."""
        return await _in_thread(_exists, self.path)


@dataclass(frozen=True, slots=True)
class FreeSpaceProbe:
    """Alive when the file system holding `path` has at least `min_bytes` free for us."""

    path: str
    min_bytes: int

    async def __call__(self) -> str:
        """Compare the space available to unprivileged users with the minimum."""
        return await _in_thread(_free, self.path, self.min_bytes)


@dataclass(frozen=True, slots=True)
class CallableProbe:
    """Any async callable as a probe: return a detail when healthy, raise when not."""

    func: Callable[[], Awaitable[str]]

    async def __call__(self) -> str:
        """Await the callable."""
        return await self.func()
