"""A runtime whose stdout nobody reads: probes, metrics, the stop and the exit go on.

The runtime's stdout is a pipe this test holds the read end of and reads only when it says
so, like a container log driver that stopped reading. The child prints a numbered line every
0.1 ms or so, so the pipe and the runtime's 1 MiB queue are full within seconds.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from tests.support import CHILD, PYTHON, wait_until
from tests.support.stalled import StalledRuntime


@pytest.fixture(name="stalled")
def _stalled() -> Iterator[list[StalledRuntime]]:
    started: list[StalledRuntime] = []
    yield started
    for runtime in started:
        runtime.close()


def start(started: list[StalledRuntime], *args: str) -> StalledRuntime:
    runtime = StalledRuntime(*args)
    started.append(runtime)
    return runtime


CHATTY = (PYTHON, str(CHILD), "--tick", "0.0001")
BLOCKED = "bots_runtime_output_blocked_seconds"
LINES = "bots_runtime_log_lines_total"
DROPPED = "bots_runtime_log_lines_dropped_total"


def test_probes_answer_and_sigterm_stops_with_the_childs_code(
    stalled: list[StalledRuntime],
) -> None:
    """1. the child prints all the time; nobody reads the runtime's stdout
    2. /metrics shows the write to stdout waiting for its reader, and bytes queued
    3. the child is held back (`block`, the default): no line counted as dropped
    4. /healthz and /readyz still answer 200, every time (before: time-outs within 1.5 s)
    5. SIGTERM: the child's clean stop (it prints on the signal, exits 7) goes through, and
       the runtime exits with 7 inside the 5 s stop budget."""
    rt = start(stalled, "--stop-timeout", "5", "run", "--", *CHATTY, "--stop-exit", "7")
    wait_until(lambda: rt.metric(BLOCKED, 'output="stdout"') > 0.5, 15, "stdout to stall")
    rt.held_back()
    assert rt.metric("bots_runtime_output_waiting_bytes", 'output="stdout"') > 0
    assert rt.metric(BLOCKED, 'output="stdout"') > 1.0
    wait_until(lambda: rt.get("/readyz")[0] == 200, 10, "the start period to pass")
    statuses = set()
    for _ in range(20):
        for path in ("/healthz", "/readyz"):
            status, _, _ = rt.get(path)
            statuses.add((path, status))
    assert statuses == {("/healthz", 200), ("/readyz", 200)}
    assert rt.metric(DROPPED, 'stream="stdout"') == 0
    sent = time.monotonic()
    rt.proc.send_signal(signal.SIGTERM)
    assert rt.proc.wait(10) == 7
    assert time.monotonic() - sent < 5.0


def test_block_holds_the_child_back_and_loses_nothing(stalled: list[StalledRuntime]) -> None:
    """While stalled, the relayed line count stands still; once read again, every tick
    from 0 on arrives, whole and in order."""
    rt = start(stalled, "run", "--", *CHATTY)
    before = rt.held_back()
    time.sleep(0.5)  # measuring: does the count move while stalled?
    assert rt.metric(LINES, 'stream="stdout"') == before
    rt.read_on()

    def ticks() -> list[int]:
        return [
            int(str(e["event"]).split()[1])
            for e in rt.events()
            if e.get("logger") == "child" and str(e.get("event", "")).startswith("tick ")
        ]

    wait_until(lambda: len(ticks()) > before + 500, 15, "the child to go on")
    seen = ticks()
    assert seen == list(range(len(seen)))
    assert rt.metric(DROPPED, 'stream="stdout"') == 0


def test_drop_never_holds_the_child_back_and_says_what_it_dropped(
    stalled: list[StalledRuntime],
) -> None:
    """`--child-logs-full drop`: 1. stalled, the child goes on printing (the relayed count
    grows) and lines are counted as dropped 2. read again: one summary event says how many,
    and every line that did arrive is a whole JSON object."""
    rt = start(stalled, "--child-logs-full", "drop", "run", "--", *CHATTY)
    wait_until(lambda: rt.metric(DROPPED, 'stream="stdout"') > 0, 30, "lines to be dropped")
    before = rt.metric(LINES, 'stream="stdout"')
    wait_until(lambda: rt.metric(LINES, 'stream="stdout"') > before + 200, 10, "the child to go on")
    dropped = rt.metric(DROPPED, 'stream="stdout"')
    assert rt.metric(BLOCKED, 'output="stdout"') > 0.5
    rt.read_on()
    summary = wait_until(
        lambda: [e for e in rt.events() if e.get("event") == "output was stalled: dropped"],
        15,
        "the summary event",
    )[0]
    assert summary["output"] == "stdout"
    assert int(str(summary["child_lines"])) >= dropped
    rt.proc.send_signal(signal.SIGTERM)
    assert rt.proc.wait(10) == 0
