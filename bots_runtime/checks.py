"""Built-in health checks and the runner that keeps their latest results.

A probe endpoint never runs a check: checks run in the background, each on its own interval
and under its own timeout, and `/healthz` and `/readyz` only read the latest result. So a slow
database or a hung NFS mount makes a check fail after its timeout instead of making the
kubelet's probe time out. Probes are frozen dataclasses built with the service spec, before
the child is spawned, so anyio is imported inside `__call__`, not at module load.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bots_runtime.spec import CheckFailedError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from anyio.abc import ByteStream

    from bots_runtime.spec import CheckSpec

# Upper bounds in seconds for the check duration histogram; checks time out within seconds.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_MAX_REPLY = 64 * 1024
_MAX_REASON = 200


def _one_line(text: str) -> str:
    """A reason fit for a probe body: one line, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_REASON else flat[: _MAX_REASON - 3] + "..."


def _reason(exc: BaseException) -> str:
    """The most telling message: anyio hides "Connection refused" behind its own words."""
    cause = exc.__cause__
    while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return _one_line(text) if text else type(exc).__name__


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
                f"cannot connect to {self.host}:{self.port}: {_reason(exc)}"
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
        raise CheckFailedError(f"cannot connect to {_safe_url(url)}: {_reason(exc)}") from None
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


def _request(method: str, url: str, body: bytes = b"", content_type: str = "") -> bytes:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
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
    """Alive when `GET url` answers with a status in `statuses` (inclusive), as the kubelet does."""

    url: str
    statuses: tuple[int, int] = (200, 399)

    async def __call__(self) -> str:
        """GET once and compare the status."""
        status, _ = _status(await _exchange(self.url, _request("GET", self.url)), self.url)
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
                f"XML-RPC {_safe_url(self.url)}: bad reply: {_reason(exc)}"
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
        raise CheckFailedError(_reason(exc)) from None


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


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The latest outcome of one check, as the endpoints see it.

    `ok` already applies the spec's `failure_threshold`: it turns false only after that many
    failures in a row, and starts false until the first pass (the kubelet's rule). `since`
    is the monotonic time of the last flip between ok and failed, so liveness can ask "how
    long has this been failing".
    """

    ok: bool
    detail: str
    checked_at: float
    duration: float
    failures_in_a_row: int
    since: float


@dataclass(slots=True)
class DurationHistogram:
    """Check durations in fixed buckets; metrics turns it into a Prometheus histogram."""

    bounds: tuple[float, ...] = DURATION_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration in its bucket (the last bucket is +Inf)."""
        index = next(
            (i for i, bound in enumerate(self.bounds) if seconds <= bound), len(self.bounds)
        )
        self.counts[index] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        """How many durations were observed."""
        return sum(self.counts)


class CheckRunner:
    """Runs every check on its own interval and timeout; keeps results in memory only."""

    def __init__(
        self, specs: Sequence[CheckSpec], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.specs: tuple[CheckSpec, ...] = tuple(specs)
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"check names must be unique: {names}")
        self._clock = clock
        self._results: dict[str, CheckResult] = {}
        self.failures_total: dict[str, int] = dict.fromkeys(names, 0)
        self.durations: dict[str, DurationHistogram] = {name: DurationHistogram() for name in names}

    def results(self) -> Mapping[str, CheckResult]:
        """Latest result per check name; a missing name never ran (and counts as not ok)."""
        return self._results

    async def run(self) -> None:
        """Run all checks until cancelled."""
        import anyio  # noqa: PLC0415 - kept out of start-up

        async with anyio.create_task_group() as group:
            for spec in self.specs:
                group.start_soon(self._loop, spec, name=f"check {spec.name}")

    async def _loop(self, spec: CheckSpec) -> None:
        import anyio  # noqa: PLC0415 - kept out of start-up

        while True:
            started = anyio.current_time()
            await self.run_once(spec)
            await anyio.sleep(max(0.0, started + spec.interval - anyio.current_time()))

    async def run_once(self, spec: CheckSpec) -> CheckResult:
        """Run one check under its timeout and record the outcome; past the timeout it failed."""
        import anyio  # noqa: PLC0415 - kept out of start-up

        begun = self._clock()
        passed = False
        detail = f"timed out after {spec.timeout:g}s"
        with anyio.move_on_after(spec.timeout):
            try:
                detail = _one_line(await spec.probe())
                passed = True
            except Exception as exc:  # noqa: BLE001 - every failure of a probe is a result
                detail = _reason(exc)
        now = self._clock()
        result = self._record(spec, passed=passed, detail=detail, begun=begun, now=now)
        self.durations[spec.name].observe(now - begun)
        return result

    def _record(
        self, spec: CheckSpec, *, passed: bool, detail: str, begun: float, now: float
    ) -> CheckResult:
        previous = self._results.get(spec.name)
        in_a_row = 0 if passed else (previous.failures_in_a_row if previous else 0) + 1
        if not passed:
            self.failures_total[spec.name] += 1
        if passed:
            ok = True
        elif previous is None:
            ok = False
        else:
            ok = previous.ok and in_a_row < spec.failure_threshold
        flipped = previous is None or previous.ok != ok
        since = now if flipped or previous is None else previous.since
        result = CheckResult(
            ok=ok,
            detail=detail,
            checked_at=now,
            duration=now - begun,
            failures_in_a_row=in_a_row,
            since=since,
        )
        self._results[spec.name] = result
        return result
