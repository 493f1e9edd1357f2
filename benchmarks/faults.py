"""The faults the runtime must survive, each as one run that checks the documented outcome.

Every case starts real processes (the runtime through its CLI, the test child, the real
bots-engine and webserver, podman), causes one fault, and raises `FaultError` (or lets a
bounded wait fail) unless what the README and docs/ promise happens. It returns what it
measured besides: lines lost, zombies seen, stale locks left. `matrix.py` repeats each case
and tabulates.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import procfs
from benchmarks.faultkit import (
    CHILD,
    PYTHON,
    BotsDir,
    Context,
    Outcome,
    Storm,
    expect,
    gaps,
    json_lines,
    marker_words,
    mutex_rows,
    probe_ms,
    python_child,
    stale_locks,
    stalled_ticks,
)
from benchmarks.stats import percentile
from tests.bots.kit import SlowGateway, have_bots, make_bots_dir
from tests.support import RuntimeProcess, children_of, process_exists, wait_until, zombies_of

if TYPE_CHECKING:
    from collections.abc import Callable


TICKER = (PYTHON, str(CHILD), "--tick", "0.0001")
BLOCKED = "bots_runtime_output_blocked_seconds"
LINES = "bots_runtime_log_lines_total"
DROPPED = "bots_runtime_log_lines_dropped_total"


def child(*flags: str) -> list[str]:
    """The test child with `flags`."""
    return [PYTHON, str(CHILD), *flags]


def _ready(rt: RuntimeProcess) -> None:
    rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()), 15)


# --- a stdout nobody reads --------------------------------------------------------------


def stalled_never_read(ctx: Context) -> Outcome:
    """stdout never read: probes answer, SIGTERM stops with the child's code in the budget."""
    rt = ctx.stalled_runtime("--stop-timeout", "5", "run", "--", *TICKER, "--stop-exit", "7")
    wait_until(lambda: rt.metric(BLOCKED, 'output="stdout"') > 1.0, 30, "stdout to stall")
    wait_until(lambda: rt.get("/readyz")[0] == 200, 10, "readiness")
    worst = 0.0
    for _ in range(10):
        for path in ("/healthz", "/readyz"):
            status, _, took = rt.get(path)
            expect(status == 200, f"{path} answered {status} while stdout was stalled")
            worst = max(worst, took)
    expect(worst < 1.0, f"a probe took {worst:.2f} s while stdout was stalled")
    sent = time.monotonic()
    rt.proc.send_signal(signal.SIGTERM)
    code = rt.proc.wait(15)
    took = time.monotonic() - sent
    expect(code == 7, f"exit {code}, not the child's 7")
    expect(took < 5.0, f"exit {took:.2f} s after SIGTERM, not inside the 5 s budget")
    rt.read_to_end()
    return Outcome(
        note=f"probes <= {worst * 1000:.0f} ms; exit 7 {took:.2f} s after SIGTERM",
        lines_lost=gaps(stalled_ticks(rt)),
    )


def stalled_then_read(ctx: Context) -> Outcome:
    """block: the child is held back while stalled; read again, every line arrives."""
    rt = ctx.stalled_runtime("run", "--", *TICKER)
    held = rt.held_back()
    rt.read_on()
    wait_until(lambda: len(stalled_ticks(rt)) > held + 1000, 30, "the child to go on")
    dropped = rt.metric(DROPPED, 'stream="stdout"')
    rt.proc.send_signal(signal.SIGTERM)
    code = rt.proc.wait(15)
    expect(code == 0, f"exit {code}")
    rt.read_to_end()
    seen = stalled_ticks(rt)
    expect(seen == sorted(seen), "ticks out of order")
    expect(dropped == 0, f"{dropped:g} lines counted as dropped in block mode")
    return Outcome(note=f"held back at {held:g} lines", lines_lost=gaps(seen))


def stalled_drop(ctx: Context) -> Outcome:
    """drop: the child goes on, lines are dropped and counted exactly, one summary."""
    rt = ctx.stalled_runtime("--child-logs-full", "drop", "run", "--", *TICKER)
    wait_until(lambda: rt.metric(DROPPED, 'stream="stdout"') > 0, 30, "lines to be dropped")
    before = rt.metric(LINES, 'stream="stdout"')
    wait_until(lambda: rt.metric(LINES, 'stream="stdout"') > before + 500, 10, "the child")
    rt.read_on()
    summaries = wait_until(
        lambda: [e for e in rt.events() if e.get("event") == "output was stalled: dropped"],
        15,
        "the summary event",
    )
    counted = rt.metric(DROPPED, 'stream="stdout"')
    rt.proc.send_signal(signal.SIGTERM)
    code = rt.proc.wait(15)
    expect(code == 0, f"exit {code}")
    rt.read_to_end()
    lost = gaps(stalled_ticks(rt))
    expect(lost == counted, f"{lost} lines missing but {counted:g} counted as dropped")
    expect(len(summaries) == 1, f"{len(summaries)} summary events")
    return Outcome(note=f"{lost} dropped, all counted, one summary", lines_lost=0)


# --- stop signals ------------------------------------------------------------------------


def child_ignores_stop(ctx: Context) -> Outcome:
    """A child that ignores SIGTERM is killed at the deadline: 137 after 1 s."""
    ignoring = child("--ignore", "TERM")
    rt = ctx.runtime("--port", "0", "--stop-timeout", "1", "run", "--", *ignoring)
    _ready(rt)
    sent = rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    took = time.monotonic() - sent
    expect(code == 137, f"exit {code}")
    expect(0.9 < took < 4, f"killed after {took:.2f} s")
    expect(rt.find("killing", reason="stop timeout"), "no 'killing' at the stop timeout")
    return Outcome(note=f"137 after {took:.2f} s")


def hung_child(ctx: Context) -> Outcome:
    """A stopped (hung) child cannot act on SIGTERM: SIGKILL at the deadline ends it."""
    rt = ctx.runtime("--port", "0", "--stop-timeout", "1", "run", "--", *child())
    _ready(rt)
    pid = rt.child_pid()
    os.kill(pid, signal.SIGSTOP)
    sent = rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    took = time.monotonic() - sent
    expect(code == 137, f"exit {code}")
    expect(took < 4, f"gone after {took:.2f} s")
    expect(not process_exists(pid), "the hung child is still there")
    return Outcome(note=f"137 after {took:.2f} s")


def second_sigterm_generic(ctx: Context) -> Outcome:
    """A plain command: the second SIGTERM kills at once (tini's way)."""
    ignoring = child("--ignore", "TERM")
    rt = ctx.runtime("--port", "0", "--stop-timeout", "30", "run", "--", *ignoring)
    _ready(rt)
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal sent")
    sent = rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    took = time.monotonic() - sent
    expect(code == 137, f"exit {code}")
    expect(took < 3, f"gone after {took:.2f} s")
    return Outcome(note=f"137 after {took:.2f} s")


def sigterm_during_start_up(ctx: Context) -> Outcome:
    """SIGTERM while the runtime still imports its HTTP stack: replayed, the child stops."""
    rt = ctx.runtime("--stop-timeout", "10", "--port", "0", "run", "--", "sleep", "30")
    wait_until(lambda: children_of(rt.pid), 10, "the child", interval=0.001)
    sent = rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    took = time.monotonic() - sent
    expect(code == 143, f"exit {code}, not the child's 143")
    expect(took < 3, f"gone after {took:.2f} s")
    return Outcome(note=f"143 after {took:.2f} s")


def signal_storm_at_exit(ctx: Context) -> Outcome:
    """SIGTERM every 0.5 ms from the child's exit on: the exit code is always the child's."""
    flags = ("--orphans", "1", "--orphan-sleep", "0.3", "--then-exit", "3")
    rt = ctx.runtime("--port", "0", "run", "--", *child(*flags))
    rt.wait_event("child exited")
    storm = Storm(rt.pid)
    storm.start()
    storm.until_exit()
    code = rt.wait(10)
    expect(code == 3, f"exit {code}, not the child's 3")
    return Outcome(note=f"{storm.sent} SIGTERMs, exit 3")


def runtime_sigkilled(ctx: Context) -> Outcome:
    """The runtime (not PID 1) SIGKILLed: the kernel takes its child down too."""
    rt = ctx.runtime("--port", "0", "run", "--", *child())
    _ready(rt)
    pid = rt.child_pid()
    os.kill(rt.pid, signal.SIGKILL)
    rt.proc.wait(10)
    killed = time.monotonic()
    wait_until(lambda: not process_exists(pid), 5, "the child to be gone")
    gone = time.monotonic() - killed
    # The harness is a subreaper: the dead child is its own now, to reap.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return Outcome(note=f"child gone after {gone * 1000:.0f} ms")


# --- the child's own faults ------------------------------------------------------------


def crash_loop(ctx: Context) -> Outcome:
    """A child that fails at once: back-off, then give up (FATAL) with its code."""
    rt = ctx.runtime(
        "--port", "0", "--restart", "on-failure", "--max-restarts", "2", "--min-uptime", "10",
        "run", "--", *child("--exit", "1"),
    )  # fmt: skip
    code = rt.wait(30)
    starts = len(rt.find("child started"))
    expect(code == 1, f"exit {code}")
    expect(starts == 3, f"{starts} starts, not 1 + 2 restarts")
    expect(rt.find("giving up: too many quick failures"), "no 'giving up'")
    return Outcome(note="3 starts, gave up, exit 1")


def orphans_subreaper(ctx: Context) -> Outcome:
    """50 orphans re-parented to the runtime (a subreaper) are reaped at once."""
    rt = ctx.runtime(
        "--port", "0", "--log-level", "debug", "run", "--",
        *child("--orphans", "50", "--orphan-sleep", "0.2"),
    )  # fmt: skip
    _ready(rt)
    time.sleep(0.45)  # the orphans exit 0.2 s after they were made: measure 0.25 s later
    zombies = len(zombies_of(rt.pid))
    rt.wait_for(lambda r: len(r.find("orphan reaped")) == 50, 10)
    rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    expect(code == 0, f"exit {code}")
    return Outcome(note="50 reaped", zombies=zombies)


def orphans_pid1(ctx: Context) -> Outcome:
    """As PID 1 of a PID namespace: 50 orphans reaped, no zombie 0.25 s after they exit."""
    rt = ctx.runtime(
        "--port", "0", "--log-level", "debug", "run", "--",
        *child("--orphans", "50", "--orphan-sleep", "0.2", "--stop-exit", "3"),
        prefix=("unshare", "--pid", "--fork", "--mount-proc"),
    )  # fmt: skip
    _ready(rt)
    time.sleep(0.45)  # measure 0.25 s after the orphans' exit
    inside = children_of(rt.pid)
    expect(inside, "no runtime under unshare")
    zombies = len(zombies_of(inside[0]))
    rt.wait_for(lambda r: len(r.find("orphan reaped")) == 50, 10)
    os.kill(inside[0], signal.SIGTERM)
    code = rt.wait(15)
    expect(code == 3, f"exit {code}, not the child's 3")
    return Outcome(note="PID 1: 50 reaped", zombies=zombies)


#: Every 2 KB: three bytes that are not UTF-8 and one two-byte character across them.
FLOOD_UNIT = b"x" * 1000 + b"\xff\xc3\xa9\x80\xfe" + b"y" * 1000
FLOOD_CHILD = r"""
import os, signal, sys
count, size = int(sys.argv[1]), int(sys.argv[2])
unit = b"x" * 1000 + b"\xff\xc3\xa9\x80\xfe" + b"y" * 1000
body = unit * (size // len(unit) + 1)
for seq in range(count):
    head = b"#%07d|" % seq
    view = memoryview(head + body[: size - len(head) - 1] + b"\n")
    while view:
        view = view[os.write(1, view):]
os.write(2, b"flooded\n")
signal.pause()
"""


@functools.cache
def _expected_body(size: int) -> str:
    body = FLOOD_UNIT * (size // len(FLOOD_UNIT) + 1)
    return body[: size - 9 - 1].decode("utf-8", "backslashreplace")


def expected_line(seq: int, size: int) -> str:
    """What wrap mode makes of line `seq` of the flood child: invalid bytes escaped."""
    return f"#{seq:07d}|" + _expected_body(size)


@dataclass
class FloodCheck:
    """Reassembles the child's lines from wrapped events as they stream in, and checks them."""

    size: int
    intact: int = 0
    mangled: int = 0
    other: int = 0
    _piece: str = ""

    def line(self, event: dict[str, object]) -> None:
        if event.get("logger") != "child" or event.get("stream") != "stdout":
            self.other += 1
            return
        text = str(event["event"])
        if event.get("partial"):
            self._piece += text
            return
        whole, self._piece = self._piece + text, ""
        seq = int(whole[1:8]) if whole.startswith("#") and whole[1:8].isdigit() else -1
        if seq >= 0 and whole == expected_line(seq, self.size):
            self.intact += 1
        else:
            self.mangled += 1


def flood(ctx: Context) -> Outcome:
    """1 GB in 1 MB lines with invalid UTF-8: nothing lost or mangled, memory bounded."""
    size = ctx.sizes.line_bytes
    count = ctx.sizes.flood_bytes // size
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [PYTHON, "-m", "bots_runtime", "--port", "0", "--log-format", "json", "run", "--",
         *python_child(FLOOD_CHILD, str(count), str(size))],
        stdout=write_end, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=ctx.workdir,
    )  # fmt: skip
    os.close(write_end)
    ctx.cleanups.append(lambda: _end(proc))
    check = FloodCheck(size)
    started = time.monotonic()
    buffer = b""
    with open(read_end, "rb", buffering=0) as pipe:
        while check.intact + check.mangled < count:
            chunk = pipe.read(1 << 20)
            if not chunk:
                break
            buffer += chunk
            cut = buffer.rfind(b"\n") + 1
            for event in json_lines(buffer[:cut]):
                check.line(event)
            buffer = buffer[cut:]
        took = time.monotonic() - started
        hwm = procfs.memory_kib([proc.pid])[1]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
        pipe.read()
    expect(code == 143, f"exit {code}, not the child's 143 (killed by the stop signal)")
    expect(hwm < 200 * 1024, f"runtime high-water memory {hwm} KiB")
    lost = count - check.intact - check.mangled
    expect(check.mangled == 0, f"{check.mangled} lines mangled")
    mb = ctx.sizes.flood_bytes / took / 1e6
    return Outcome(note=f"{mb:.0f} MB/s, runtime VmHWM {hwm // 1024} MiB", lines_lost=lost)


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


# --- bad input and bad clients ------------------------------------------------------------


def bad_input(ctx: Context) -> Outcome:
    """Seven kinds of bad input: one line each, the documented code, no traceback."""
    script = ctx.workdir / "noexec.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    bad_interpreter = ctx.workdir / "badinterp"
    bad_interpreter.write_text("#!/nonexistent/python3\n")
    bad_interpreter.chmod(0o755)
    cases: list[tuple[tuple[str, ...], dict[str, str], int, str]] = [
        (("--bogus", "x"), {}, 64, "--bogus"),
        (("--stop-timeout", "-3", "x"), {}, 78, "--stop-timeout"),
        (("x",), {"BOTS_RUNTIME_RESTART": "often"}, 78, "BOTS_RUNTIME_RESTART"),
        (("--port", "0", "definitely-not-a-program-xyz"), {}, 127, "command not found"),
        (("--port", "0", str(script)), {}, 126, "not executable"),
        (("--port", "0", str(bad_interpreter)), {}, 127, "/nonexistent/python3"),
        (("check", "bogus"), {}, 64, "check needs a service"),
    ]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cases.append((("--host", "127.0.0.1", "--port", port, "true"), {}, 69, port))
        for args, env, code, needle in cases:
            full = {k: v for k, v in os.environ.items() if not k.startswith("BOTS_RUNTIME_")}
            done = subprocess.run(
                [PYTHON, "-m", "bots_runtime", *args],
                env=full | env, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            lines = done.stderr.strip().splitlines()
            what = " ".join(args)
            expect(done.returncode == code, f"{what}: exit {done.returncode}, not {code}")
            expect(len(lines) == 1 and needle in lines[0], f"{what}: {done.stderr!r}")
            expect("Traceback" not in done.stderr, f"{what}: a traceback")
    return Outcome(note=f"{len(cases)} kinds")


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))


#: A TLS hello, not HTTP at all, and a bad request line: each gets 400 and a close.
MALFORMED = (
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    b"HELLO\r\n\r\n",
    b"GET /\x00 HTTP/9\r\n\r\n",
)


def slow_http(ctx: Context) -> Outcome:
    """6,000 idle connections, 1,000 half-sent requests, malformed ones: probes stay ~ms."""
    sizes = ctx.sizes
    _raise_fd_limit(sizes.idle_connections + sizes.half_sent + 1000)
    rt = ctx.runtime("run", "--", *child(), health=True)
    port = rt.port
    wait_until(lambda: probe_ms(port)[0] == 200, 15, "readiness")
    held: list[socket.socket] = []

    def close_all() -> None:
        for sock in held:
            sock.close()

    ctx.cleanups.append(close_all)
    started = time.monotonic()
    for n in range(sizes.idle_connections + sizes.half_sent):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if n >= sizes.idle_connections:
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        held.append(sock)
    for garbage in MALFORMED:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(garbage)
            reply = sock.recv(1024)
            status_line = reply.split(b"\r\n", 1)[0]
            expect(reply == b"" or b" 400 " in status_line, f"{garbage!r}: {reply[:40]!r}")
    opened = time.monotonic() - started
    expect(opened < 4.5, f"opening the connections took {opened:.1f} s (head timeout 5 s)")
    latencies = []
    for _ in range(sizes.probes):
        status, took = probe_ms(port)
        expect(status == 200, f"/readyz answered {status}")
        latencies.append(took)
    open_now = rt.metric("bots_runtime_http_connections")
    expect(
        open_now is not None and open_now >= sizes.idle_connections + sizes.half_sent,
        f"only {open_now} connections open while probing",
    )
    for sock in held:
        sock.close()
    held.clear()
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    expect(p50 <= 2.0, f"/readyz p50 {p50:.2f} ms with the connections open")
    rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    expect(code == 0, f"exit {code}")
    return Outcome(note=f"/readyz p50 {p50:.2f} ms, p99 {p99:.2f} ms, {open_now:.0f} open")


# --- Bots: the engine ----------------------------------------------------------------------


def _route_started(marker: Path) -> bool:
    return "start" in marker_words(marker)


def engine_sigterm(ctx: Context) -> Outcome:
    """One SIGTERM mid-run: SIGINT from the deadline minus 5 s, exit 2, no mutex row."""
    bots = ctx.bots()
    marker = bots.add_sleep_route("once", seconds=30.0)
    rt = ctx.bots_runtime(bots, "--stop-timeout", "6", "engine")
    wait_until(lambda: _route_started(marker), 20, "the route")
    sent = rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    took = time.monotonic() - sent
    expect(code == 2, f"exit {code}")
    expect(marker_words(marker) == ["start", "interrupted"], f"route: {marker_words(marker)}")
    return Outcome(note=f"exit 2 after {took:.1f} s", stale_locks=stale_locks(bots))


def engine_two_sigterms(ctx: Context) -> Outcome:
    """Two SIGTERMs mid-run: SIGINT at once, exit 2 within seconds, no mutex row."""
    bots = ctx.bots()
    marker = bots.add_sleep_route("twice", seconds=30.0)
    rt = ctx.bots_runtime(bots, "engine")
    wait_until(lambda: _route_started(marker), 20, "the route")
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop requested")
    sent = rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    took = time.monotonic() - sent
    expect(code == 2, f"exit {code}")
    expect(took < 5, f"exit {took:.1f} s after the second SIGTERM")
    expect(not rt.find("killing"), "something was killed")
    return Outcome(note=f"exit 2 {took:.2f} s after the 2nd", stale_locks=stale_locks(bots))


def engine_three_sigterms(ctx: Context) -> Outcome:
    """Three SIGTERMs (the route cleans up 5 s): SIGKILL at once, 137, the mutex row left;
    the next run recovers it."""
    bots = ctx.bots()
    marker = bots.add_sleep_route("thrice", seconds=30.0, cleanup=5.0)
    rt = ctx.bots_runtime(bots, "engine")
    wait_until(lambda: _route_started(marker), 20, "the route")
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop requested")
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal again: aborting")
    wait_until(lambda: "interrupted" in marker_words(marker), 5, "the interrupt")
    rt.signal(signal.SIGTERM)
    code = rt.wait(15)
    expect(code == 137, f"exit {code}")
    expect(mutex_rows(bots) == 1, f"{mutex_rows(bots)} mutex rows right after the kill")
    with contextlib.closing(sqlite3.connect(bots.db)) as db:
        db.execute("UPDATE routes SET active = 0")
        db.commit()
    after = ctx.bots_runtime(bots, "engine")
    code = after.wait(60)
    expect(code == 0, f"the next run exited {code}")
    expect("database is locked" in after.output(), "the next run did not recover")
    return Outcome(note="137, row left, next run recovered", stale_locks=stale_locks(bots))


def engine_two_at_once(ctx: Context) -> Outcome:
    """Two engines on one folder: the second exits 75 at once, the first runs to the end."""
    bots = ctx.bots()
    marker = bots.add_sleep_route("single", seconds=2.0)
    first = ctx.bots_runtime(bots, "engine")
    wait_until(lambda: _route_started(marker), 20, "the first run's route")
    begun = time.monotonic()
    second = subprocess.run(
        [PYTHON, "-m", "bots_runtime", "--port", "0", "engine"],
        env=bots.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    took = time.monotonic() - begun
    expect(second.returncode == 75, f"the second exited {second.returncode}")
    expect(took < 3, f"the second took {took:.1f} s")
    code = first.wait(60)
    expect(code == 0, f"the first exited {code}")
    expect(marker_words(marker) == ["start", "end"], f"route: {marker_words(marker)}")
    return Outcome(note=f"second: 75 in {took:.2f} s", stale_locks=stale_locks(bots))


def engine_push_storm(ctx: Context) -> Outcome:
    """A SIGTERM storm while the engine's outcome is pushed: pushed, and exit 0."""
    gateway = SlowGateway()
    thread = threading.Thread(target=gateway.serve_forever, daemon=True)
    thread.start()

    def stop_gateway() -> None:
        gateway.release.set()
        gateway.shutdown()
        gateway.server_close()

    ctx.cleanups.append(stop_gateway)
    bots = ctx.bots()
    rt = ctx.bots_runtime(bots, "--pushgateway", gateway.url, "engine")
    expect(gateway.arrived.wait(60), "no push arrived")
    storm = Storm(rt.pid)
    storm.start()
    time.sleep(0.3)  # the storm runs while the push is held
    gateway.release.set()
    storm.until_exit()
    code = rt.wait(10)
    expect(code == 0, f"exit {code}, not the engine's 0")
    expect(b"bots_engine_last_exit_code 0" in b"".join(gateway.bodies), "nothing pushed")
    expect(rt.find("pushed engine run metrics", code=0), "no 'pushed' event")
    return Outcome(note=f"{storm.sent} SIGTERMs, pushed, exit 0", stale_locks=stale_locks(bots))


# --- Bots: the data volume -------------------------------------------------------------


def _volume(ctx: Context, size_mb: int = 32) -> BotsDir:
    """A Bots environment on a tmpfs of its own (unmounted at the end) after one clean run."""
    mount = ctx.workdir / "volume"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)], check=True
    )

    def unmount() -> None:
        subprocess.run(["umount", "-l", str(mount)], check=False)

    ctx.cleanups.append(unmount)
    bots = make_bots_dir(mount / "bots")
    bots.add_sleep_route("short", seconds=0.2)
    first = ctx.bots_runtime(bots, "engine")
    expect(first.wait(60) == 0, "the first run on the volume failed")
    return bots


def volume_read_only(ctx: Context) -> Outcome:
    """A read-only data volume: the engine is not started; one line, 78."""
    bots = _volume(ctx)
    mount = bots.root.parent
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    done = subprocess.run(
        [PYTHON, "-m", "bots_runtime", "--port", "0", "engine"],
        env=bots.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
    lines = done.stderr.strip().splitlines()
    expect(done.returncode == 78, f"exit {done.returncode}")
    expect(len(lines) == 1 and "Read-only file system" in lines[0], f"stderr: {done.stderr!r}")
    return Outcome(note="78, one line", stale_locks=stale_locks(bots))


def volume_full(ctx: Context) -> Outcome:
    """A full data volume: Bots' own error (1) comes out, no mutex row; once there is room
    again the next run is clean."""
    bots = _volume(ctx)
    filler = bots.root.parent / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as handle:
        while True:
            handle.write(b"\0" * (1 << 16))
    rt = ctx.bots_runtime(bots, "engine")
    code = rt.wait(60)
    expect(code == 1, f"exit {code}, not Bots' 1")
    expect(mutex_rows(bots) == 0, "a mutex row on the full volume")
    filler.unlink()
    after = ctx.bots_runtime(bots, "engine")
    expect(after.wait(60) == 0, "the run after freeing space failed")
    expect("database is locked" not in after.output(), "the next run found a lock")
    return Outcome(note="exit 1, then clean", stale_locks=stale_locks(bots))


# --- the container --------------------------------------------------------------------------


def container_stop(ctx: Context) -> Outcome:
    """`podman stop` of an engine container mid-route: SIGTERM to the runtime as PID 1,
    SIGINT to the engine, exit 2 inside the stop timeout, no mutex row."""
    from tests.image.podman import Podman, podman_env  # noqa: PLC0415 - only with podman

    assert ctx.image is not None
    podman = Podman(env=podman_env())
    ctx.cleanups.append(podman.cleanup)
    volume = podman.volume()
    done = podman.once("init-db", "-v", f"{volume}:/var/lib/bots", ctx.image, "init-db")
    expect(done.returncode == 0, f"init-db: {done.stderr[-300:]}")
    inspect = podman.run("volume", "inspect", "--format", "{{.Mountpoint}}", volume)
    mountpoint = Path(inspect.stdout.strip())
    bots = BotsDir(mountpoint, 0, 0, 0)
    marker = bots.add_sleep_route("stopped", seconds=30.0, seen_as=Path("/var/lib/bots"))
    # As in "engine: SIGTERM mid-run": SIGINT from 1 s after the stop (the default plan lets
    # the run go on for 20 s, which would make this row take 8 minutes).
    name = podman.start(
        "engine", "-v", f"{volume}:/var/lib/bots", ctx.image, "--stop-timeout", "6", "engine"
    )
    wait_until(lambda: _route_started(marker), 60, "the route in the container")
    sent = time.monotonic()
    podman.run("stop", "-t", "30", name, timeout=60)
    took = time.monotonic() - sent
    code = podman.inspect(name)["State"]["ExitCode"]
    expect(code == 2, f"container exit {code}")
    expect(took < 6, f"podman stop took {took:.1f} s")
    expect(marker_words(marker) == ["start", "interrupted"], f"route: {marker_words(marker)}")
    return Outcome(note=f"exit 2, stop {took:.1f} s", stale_locks=mutex_rows(bots))


# --- the catalogue --------------------------------------------------------------------------


def _bots_reason() -> str:
    return "" if have_bots() else "Bots EDI is not installed next to this Python"


def _root_reason() -> str:
    return "" if os.geteuid() == 0 else "needs root (unshare --pid, mount)"


def _bots_root_reason() -> str:
    return _bots_reason() or _root_reason()


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: what is done, what the docs promise, how to run it."""

    name: str
    documented: str
    run: Callable[[Context], Outcome]
    unavailable: Callable[[], str] = lambda: ""
    needs_image: bool = False


FAULTS: tuple[Fault, ...] = (
    Fault(
        "stdout never read",
        "probes 200 in < 1 s; SIGTERM: child's code inside the budget",
        stalled_never_read,
    ),
    Fault(
        "stdout stalled, read again (block)",
        "child held back, no line lost",
        stalled_then_read,
    ),
    Fault(
        "stdout stalled (drop)",
        "child goes on; every lost line counted; one summary",
        stalled_drop,
    ),
    Fault(
        "child ignores its stop signal",
        "SIGKILL at the deadline: 137",
        child_ignores_stop,
    ),
    Fault(
        "hung child (SIGSTOP)",
        "SIGKILL at the deadline: 137",
        hung_child,
    ),
    Fault(
        "second SIGTERM, plain command",
        "SIGKILL at once: 137",
        second_sigterm_generic,
    ),
    Fault(
        "SIGTERM during start-up",
        "replayed: the child's 143 within 3 s",
        sigterm_during_start_up,
    ),
    Fault(
        "SIGTERM storm at exit",
        "the child's code (3), always",
        signal_storm_at_exit,
    ),
    Fault(
        "runtime SIGKILLed (not PID 1)",
        "the child is gone too",
        runtime_sigkilled,
    ),
    Fault(
        "crash loop",
        "2 restarts, then FATAL with the child's 1",
        crash_loop,
    ),
    Fault(
        "orphans (subreaper)",
        "50 reaped, 0 zombies at 0.25 s",
        orphans_subreaper,
    ),
    Fault(
        "orphans (PID 1)",
        "50 reaped, 0 zombies at 0.25 s",
        orphans_pid1,
        _root_reason,
    ),
    Fault(
        "1 GB flood, 1 MB lines, invalid UTF-8",
        "nothing lost or mangled; VmHWM < 200 MiB",
        flood,
    ),
    Fault(
        "bad input (8 kinds)",
        "one line each, the documented code, no traceback",
        bad_input,
    ),
    Fault(
        "malformed and slow HTTP",
        "6,000 idle + 1,000 half-sent open: /readyz p50 <= 2 ms",
        slow_http,
    ),
    Fault(
        "engine: SIGTERM mid-run",
        "exit 2, no mutex row",
        engine_sigterm,
        _bots_reason,
    ),
    Fault(
        "engine: two SIGTERMs",
        "SIGINT at once: exit 2 in < 5 s, no mutex row",
        engine_two_sigterms,
        _bots_reason,
    ),
    Fault(
        "engine: three SIGTERMs",
        "SIGKILL: 137, row left, next run recovers",
        engine_three_sigterms,
        _bots_reason,
    ),
    Fault(
        "engine: two at once",
        "the second exits 75 at once; the first ends 0",
        engine_two_at_once,
        _bots_reason,
    ),
    Fault(
        "engine: SIGTERM storm during the push",
        "pushed; exit 0",
        engine_push_storm,
        _bots_reason,
    ),
    Fault(
        "engine: read-only data volume",
        "not started: one line, 78",
        volume_read_only,
        _bots_root_reason,
    ),
    Fault(
        "engine: full data volume",
        "Bots' 1, no mutex row; next run clean",
        volume_full,
        _bots_root_reason,
    ),
    Fault(
        "container stop (podman), engine mid-run",
        "podman stop: SIGINT to the engine, exit 2 in < 6 s, no mutex row",
        container_stop,
        needs_image=True,
    ),
)
