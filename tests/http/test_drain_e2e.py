"""The drain order through the real CLI: readiness fails first, the child is signalled later."""

from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING

import anyio
import pytest

from tests.http.kit import get

if TYPE_CHECKING:
    from pathlib import Path

    from anyio.abc import Process

pytestmark = pytest.mark.anyio

CHILD = """
import signal, sys, time
def on_term(signum, frame):
    with open(sys.argv[1], "w") as out:
        out.write(f"{time.monotonic()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(1)
"""
DRAIN = 1.0


async def bound_port(port_file: Path) -> int:
    """The port a runtime started with `--port auto --port-file` bound (it writes it first)."""
    with anyio.fail_after(15):
        while True:
            text = port_file.read_text() if port_file.exists() else ""
            if text.strip():
                return int(text)
            await anyio.sleep(0.01)


async def stop(runtime: Process) -> None:
    """SIGTERM and its stop sequence, so the child goes too; SIGKILL only if that hangs."""
    if runtime.returncode is None:
        runtime.send_signal(signal.SIGTERM)
        with anyio.move_on_after(15):
            await runtime.wait()
    if runtime.returncode is None:
        runtime.kill()
        await runtime.wait()


async def status(port: int, path: str) -> int:
    try:
        code, _ = await get(port, path, limit=1.0)
    except OSError:
        return 0
    return code


async def test_drain_order(tmp_path: Path) -> None:
    """1. The runtime runs a child with --drain-delay 1 and serves on a loopback port.
    2. /readyz turns 200 once the child is running.
    3. SIGTERM to the runtime: /readyz is 503 at once while /healthz stays 200.
    4. The child gets SIGTERM only after the drain delay; the runtime exits 0 with it.
    """
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    marker = tmp_path / "signalled"
    port_file = tmp_path / "port"
    argv = [
        sys.executable,
        "-m",
        "bots_runtime",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        "auto",
        "--port-file",
        str(port_file),
        "--drain-delay",
        str(DRAIN),
        "--start-period",
        "0.2",
        "--",
        sys.executable,
        str(child),
        str(marker),
    ]
    log = (tmp_path / "runtime.log").open("wb")
    async with await anyio.open_process(argv, stdout=log, stderr=log) as runtime:
        try:
            port = await bound_port(port_file)
            with anyio.fail_after(15):
                while await status(port, "/readyz") != 200:
                    await anyio.sleep(0.02)
            assert await status(port, "/healthz") == 200
            sent = time.monotonic()
            runtime.send_signal(signal.SIGTERM)
            with anyio.fail_after(1):
                while await status(port, "/readyz") != 503:
                    await anyio.sleep(0.005)
            flipped = time.monotonic() - sent
            # Through the drain: readiness failed, liveness fine, the child not yet signalled.
            live = []
            while time.monotonic() - sent < DRAIN * 0.8:
                live.append(await status(port, "/healthz"))
                assert await status(port, "/readyz") == 503
                assert not marker.exists()
                await anyio.sleep(0.05)
            assert live
            assert set(live) == {200}
            with anyio.fail_after(10):
                code = await runtime.wait()
        finally:
            await stop(runtime)
            log.close()
    signalled = float(marker.read_text()) - sent
    assert code == 0
    assert flipped < 0.3
    assert DRAIN <= signalled < DRAIN + 1.0


async def probe_cli(port: int, *extra: str) -> tuple[int, bytes]:
    """`bots-runtime probe readyz --port P`, as a Docker HEALTHCHECK runs it."""
    argv = [sys.executable, "-m", "bots_runtime", "probe", "readyz", "--port", str(port), *extra]
    done = await anyio.run_process(argv, check=False)
    return done.returncode, done.stdout + done.stderr


async def test_probe_command(tmp_path: Path) -> None:
    """1. A runtime serves on a loopback port with a running child.
    2. `bots-runtime probe readyz --port P` exits 0 and prints nothing.
    3. With nothing listening on the port it exits 1 with one line.
    """
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    port_file = tmp_path / "port"
    argv = [sys.executable, "-m", "bots_runtime", "run", "--host", "127.0.0.1", "--port", "auto"]
    argv += ["--port-file", str(port_file), "--start-period", "0.2", "--"]
    argv += [sys.executable, str(child), "/dev/null"]
    log = (tmp_path / "runtime.log").open("wb")
    async with await anyio.open_process(argv, stdout=log, stderr=log) as runtime:
        try:
            port = await bound_port(port_file)
            with anyio.fail_after(15):
                while await status(port, "/readyz") != 200:
                    await anyio.sleep(0.02)
            assert await probe_cli(port, "--timeout", "2") == (0, b"")
        finally:
            await stop(runtime)
            log.close()
    code, output = await probe_cli(port)
    assert code == 1
    assert output == f"readyz: cannot reach 127.0.0.1:{port}: Connection refused\n".encode()


async def test_open_connections_are_counted(tmp_path: Path) -> None:
    """Three idle clients plus the scrape itself show in bots_runtime_http_connections."""
    port_file = tmp_path / "port"
    argv = [sys.executable, "-m", "bots_runtime", "--host", "127.0.0.1", "--port", "auto"]
    argv += ["--port-file", str(port_file), "sleep", "30"]
    log = (tmp_path / "runtime.log").open("wb")
    async with await anyio.open_process(argv, stdout=log, stderr=log) as runtime:
        try:
            port = await bound_port(port_file)
            idle = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(3)]
            with anyio.fail_after(10):
                while True:
                    _, body = await get(port, "/metrics")
                    line = next(ln for ln in body.splitlines() if ln.startswith("bots_runtime_h"))
                    if float(line.split()[-1]) == 4:
                        break
                    await anyio.sleep(0.02)
            for stream in idle:
                await stream.aclose()
        finally:
            await stop(runtime)
            log.close()
