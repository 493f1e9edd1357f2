"""/readyz: latency and server CPU per probe with a new TCP connection each time (as the
kubelet's httpGet does, `Connection: close`), throughput with 10 keep-alive connections
(wrk), and p99 while the child floods its output through the supervisor.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING

from benchmarks import procfs
from benchmarks.events import BenchError, pid_running
from benchmarks.launcher import STOP_WAIT_S, started
from benchmarks.peers import base_env, child_argv
from benchmarks.stats import percentile

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.events import EventChannel
    from benchmarks.peers import Variant

METRICS = (
    "readyz_p50_ms",
    "readyz_p99_ms",
    "readyz_cpu_ms",
    "readyz_rps_c10",
    "readyz_flood_p99_ms",
    "readyz_flood_probes",
)
REQUEST = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
WARMUP = 20


def probe(port: int, timeout: float = 5.0) -> tuple[float, int]:
    """One probe on a new connection: (seconds from connect to the server's close, status)."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(REQUEST)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    elapsed = time.perf_counter() - t0
    head = b"".join(chunks).split(b"\r\n", 1)[0].split()
    status = int(head[1]) if len(head) > 1 and head[1].isdigit() else 0
    return elapsed, status


def wait_ready(port: int, pid: int, timeout: float = 30.0) -> None:
    """Probe until /readyz answers 200; fail if the server dies or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not pid_running(pid):
            raise BenchError("the server exited before /readyz answered 200")
        try:
            _, status = probe(port, timeout=1.0)
        except OSError as err:
            last = str(err)
        else:
            if status == 200:
                return
            last = f"status {status}"
        time.sleep(0.02)
    raise BenchError(f"/readyz never answered 200 within {timeout} s ({last})")


def run_wrk(port: int, seconds: float) -> float:
    """Requests per second from `wrk -t1 -c10`; non-2xx answers make it fail."""
    done = subprocess.run(
        ["wrk", "-t1", "-c10", f"-d{max(1, round(seconds))}s", f"http://127.0.0.1:{port}/readyz"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    if "Non-2xx" in done.stdout:
        raise BenchError("wrk saw non-2xx answers:\n" + done.stdout)
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if match is None:
        raise BenchError("no Requests/sec in wrk output:\n" + done.stdout)
    return float(match.group(1))


def unavailable_reason() -> str:
    """Why this bench cannot run here, or "" when it can."""
    return "" if shutil.which("wrk") else "wrk not found (apt-get install wrk)"


def _idle(
    variant: Variant, workdir: Path, channel: EventChannel, probes: int, wrk_s: float
) -> dict[str, float]:
    channel.reset()
    launch = variant.build(child_argv(channel.path, "life"), workdir, base_env())
    assert launch.port is not None
    with started(launch, workdir) as run:
        child_pid = None
        if variant.name != "reference-http":
            child_pid = int(channel.wait("start", 60, alive=run.pid).values[0])
        wait_ready(launch.port, run.pid)
        sup = procfs.supervisor_pids(run.pid, child_pid)
        procfs.settle(sup)
        for _ in range(WARMUP):
            probe(launch.port)
        cpu0 = procfs.cpu_ns(sup)
        latencies = []
        for _ in range(probes):
            elapsed, status = probe(launch.port)
            if status != 200:
                raise BenchError(f"/readyz answered {status}")
            latencies.append(elapsed)
        cpu1 = procfs.cpu_ns(sup)
        rps = run_wrk(launch.port, wrk_s)
        run.stop()
    return {
        "readyz_p50_ms": percentile(latencies, 0.5) * 1000,
        "readyz_p99_ms": percentile(latencies, 0.99) * 1000,
        "readyz_cpu_ms": (cpu1 - cpu0) / probes / 1e6,
        "readyz_rps_c10": rps,
    }


def _flooded(
    variant: Variant, workdir: Path, channel: EventChannel, lines: int
) -> dict[str, float]:
    channel.reset()
    launch = variant.build(child_argv(channel.path, "flood", lines), workdir, base_env())
    assert launch.port is not None
    r, w = os.pipe()
    sink = subprocess.Popen(["cat"], stdin=r, stdout=subprocess.DEVNULL)
    os.close(r)
    try:
        with started(launch, workdir, stdout=w, keep=frozenset({sink.pid})) as run:
            os.close(w)
            w = -1
            child_pid = int(channel.wait("start", 60, alive=run.pid).values[0])
            channel.wait("ready", 60, alive=run.pid)
            wait_ready(launch.port, run.pid)
            procfs.settle(procfs.supervisor_pids(run.pid, child_pid))
            latencies = [probe(launch.port)[0]]
            os.kill(child_pid, signal.SIGUSR1)
            deadline = time.monotonic() + 300
            while channel.find("flood_end") is None and time.monotonic() < deadline:
                elapsed, status = probe(launch.port)
                if status != 200:
                    raise BenchError(f"/readyz answered {status} during the flood")
                latencies.append(elapsed)
                channel.poll(0.0)
            run.stop(timeout=STOP_WAIT_S)
    finally:
        if w >= 0:
            os.close(w)
        sink.wait(timeout=30)
    return {
        "readyz_flood_p99_ms": percentile(latencies, 0.99) * 1000,
        "readyz_flood_probes": len(latencies),
    }


def measure(
    variant: Variant, workdir: Path, channel: EventChannel, probes: int, wrk_s: float, lines: int
) -> dict[str, float]:
    """One repetition: idle probes and wrk, then (when there is a child) probes under a flood."""
    result = _idle(variant, workdir, channel, probes, wrk_s)
    if variant.name != "reference-http":
        result |= _flooded(variant, workdir, channel, lines)
    return result
