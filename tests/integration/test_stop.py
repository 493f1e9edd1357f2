"""Each stage of the graceful stop, with real processes and real deadlines."""

import json
import os
import signal
import subprocess
import threading
import time

from tests.support import (
    CHILD,
    PYTHON,
    ROOT,
    ChildCmd,
    RuntimeFactory,
    RuntimeProcess,
    children_of,
    process_exists,
    wait_until,
)


def ready(rt: RuntimeProcess) -> None:
    rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()))


def test_child_that_ignores_its_stop_signal_is_killed_at_the_deadline(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = runtime("--port", "0", "--stop-timeout", "1", "run", "--", *child_cmd("--ignore", "TERM"))
    ready(rt)
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 128 + signal.SIGKILL
    elapsed = time.monotonic() - start
    assert 0.9 < elapsed < 5
    assert rt.runtime_events("killing")[0]["reason"] == "stop timeout"


def test_stop_repeat_resends_until_the_child_gives_in(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """The child ignores its stop signal (USR1 only prints); --stop-repeat resends it."""
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "5",
        "--stop-repeat",
        "0.3",
        "--stop-signal",
        "USR1",
        "run",
        "--",
        *child_cmd("--stop-on", "USR2"),
    )
    ready(rt)
    rt.signal(signal.SIGTERM)
    rt.wait_for(lambda r: r.child_lines().count(f"signal {int(signal.SIGUSR1)}") >= 3)
    assert len(rt.runtime_events("stop signal sent")) >= 3
    rt.kill()


def test_second_stop_signal_kills_at_once(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    rt = runtime("--port", "0", "--stop-timeout", "30", "run", "--", *child_cmd("--ignore", "TERM"))
    ready(rt)
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal sent")
    start = time.monotonic()
    rt.signal(signal.SIGINT)
    assert rt.wait() == 128 + signal.SIGKILL
    assert time.monotonic() - start < 3
    assert rt.runtime_events("killing")[0]["reason"] == "forced"


def test_grandchildren_that_ignore_the_stop_signal_are_killed_with_the_group(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "1",
        "run",
        "--",
        *child_cmd("--grandchild", "--grandchild-ignore", "TERM"),
    )
    ready(rt)
    grandchild = int(
        next(line for line in rt.child_lines() if line.startswith("grandchild")).split()[1]
    )
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 0
    assert not process_exists(grandchild)
    assert rt.runtime_events("waiting for leftover processes")


def test_leftovers_are_waited_for_then_signalled(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """The main child exits; a TERM-ignoring orphan keeps running until the deadline."""
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "2",
        "--single-child",
        "true",
        "run",
        "--",
        *child_cmd(
            "--orphans", "1", "--orphan-sleep", "30", "--orphans-ignore-term", "--then-exit", "0"
        ),
    )
    assert rt.wait(15) == 0
    assert rt.runtime_events("waiting for leftover processes")
    assert rt.runtime_events("signalling leftover processes")
    killed = rt.runtime_events("killing")
    assert killed[0]["reason"] == "leftover deadline"


def test_leftover_that_finishes_on_its_own_is_not_signalled(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "10",
        "run",
        "--",
        *child_cmd("--orphans", "2", "--orphan-sleep", "0.5", "--then-exit", "3"),
    )
    assert rt.wait(15) == 3
    assert rt.runtime_events("waiting for leftover processes")
    assert not rt.runtime_events("signalling leftover processes")
    assert not rt.runtime_events("killing")


def test_drain_delay_comes_before_the_stop_signal(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = runtime("--port", "0", "--drain-delay", "0.6", "run", "--", *child_cmd())
    ready(rt)
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal sent")
    assert time.monotonic() - start >= 0.55
    assert rt.wait() == 0


def test_stop_during_backoff_exits_cleanly_without_waiting(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = runtime(
        "--port",
        "0",
        "--restart",
        "always",
        "--min-uptime",
        "100",
        "run",
        "--",
        *child_cmd("--exit", "1"),
    )
    rt.wait_event("restarting")
    rt.signal(signal.SIGTERM)
    assert rt.wait(10) == 0


def test_sigterm_before_the_event_loop_is_replayed_to_the_child(
    runtime: RuntimeFactory,
) -> None:
    """1. SIGTERM as soon as the child exists (the runtime is still importing its HTTP stack)
    2. the signal is recorded, replayed once the supervisor runs, and stops the child at once
    3. the child's status (killed by SIGTERM) comes out, long before the 10 s deadline."""
    rt = runtime("--stop-timeout", "10", "--port", "0", "run", "--", "sleep", "30")
    wait_until(lambda: children_of(rt.pid), timeout=10, interval=0.001)
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    assert rt.wait(15) == 128 + signal.SIGTERM
    assert time.monotonic() - start < 3
    assert rt.runtime_events("stop requested")


def test_stop_while_waiting_for_leftovers_keeps_the_childs_code(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """The child exits 3 leaving an orphan; a SIGTERM during the wait still reports 3."""
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "10",
        "run",
        "--",
        *child_cmd("--orphans", "1", "--orphan-sleep", "30", "--then-exit", "3"),
    )
    rt.wait_event("waiting for leftover processes")
    rt.signal(signal.SIGTERM)
    assert rt.wait(20) == 3


REST_SCRIPT = """
import os, signal, sys
from bots_runtime.supervision.runtime import supervise
from bots_runtime.core.spec import ServiceSpec, StopPlan, StopStep, StopTarget

spec = ServiceSpec(
    name="server",
    argv=(sys.executable, sys.argv[1], "--grandchild", "--grandchild-wait", "--stop-on", "INT"),
    env=dict(os.environ),
    stop=StopPlan(
        steps=(
            StopStep(0.0, signal.SIGINT, target=StopTarget.CHILD),
            StopStep(
                float(sys.argv[2]), signal.SIGINT, before_deadline=True, target=StopTarget.REST
            ),
        ),
        timeout=float(sys.argv[3]),
        to_group=False,
    ),
)
sys.exit(supervise(spec))
"""


def test_rest_of_group_is_signalled_while_the_child_waits_for_it() -> None:
    """1. A server (the child) waits for its worker (a grandchild in its group) when stopped,
       as Bots 4.0's webserver waits for a GUI engine run.
    2. SIGTERM: SIGINT to the child alone at 0 s; the worker keeps running.
    3. 1 s before the 4 s deadline, SIGINT to the rest of the group: the worker ends, the
       child exits on its own, before any SIGKILL, and got exactly one SIGINT itself.
    """
    proc = subprocess.Popen(
        [PYTHON, "-c", REST_SCRIPT, str(CHILD), "1", "4"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if '"ready ' in line:
            break
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    took = time.monotonic() - sent
    text = "".join(lines) + out
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    said = [e["event"] for e in events if e.get("logger") == "child"]
    steps = [e for e in events if e["event"] == "stop signal sent"]
    assert proc.returncode == 0, text + err
    assert 2.5 < took < 3.9, text
    assert said.count(f"signal {int(signal.SIGINT)}") == 1, said
    assert f"grandchild ended {int(signal.SIGINT)}" in said, said
    assert [(e["target"], e["at"]) for e in steps] == [("child", 0.0), ("rest", 3.0)]
    assert not [e for e in events if e["event"] == "killing"]


def test_second_stop_signal_sends_the_abort_signal_at_once(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """With an abort signal the second SIGTERM skips the waiting, not the clean-up: the child
    ignores TERM, gets USR1 (its clean stop here) at once, and its own code comes out."""
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "30",
        "--abort-signal",
        "USR1",
        "run",
        "--",
        *child_cmd("--ignore", "TERM", "--stop-on", "USR1", "--stop-exit", "5"),
    )
    ready(rt)
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal sent")
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 5
    assert time.monotonic() - start < 3
    assert f"signal {int(signal.SIGUSR1)}" in rt.child_lines()
    aborted = rt.runtime_events("stop signal again: aborting")
    assert aborted[0]["sent"] == "SIGUSR1"
    assert not rt.runtime_events("killing")


def test_abort_kills_at_its_deadline_when_ignored(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """The child ignores the abort signal too: it is resent every 2 s, and SIGKILL comes 5 s
    after the second SIGTERM instead of at the 30 s stop timeout."""
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "30",
        "--abort-signal",
        "USR1",
        "run",
        "--",
        *child_cmd("--ignore", "TERM", "--stop-on", "USR2"),
    )
    ready(rt)
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal sent")
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    assert rt.wait(15) == 128 + signal.SIGKILL
    assert 4.5 < time.monotonic() - start < 8
    assert rt.child_lines().count(f"signal {int(signal.SIGUSR1)}") == 3  # at 0, 2 and 4 s
    assert rt.runtime_events("killing")[0]["reason"] == "abort timeout"


def test_third_stop_signal_kills_at_once(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "30",
        "--abort-signal",
        "USR1",
        "run",
        "--",
        *child_cmd("--ignore", "TERM,USR1"),
    )
    ready(rt)
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal sent")
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop signal again: aborting")
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 128 + signal.SIGKILL
    assert time.monotonic() - start < 3
    assert rt.runtime_events("killing")[0]["reason"] == "forced"


def test_abort_cuts_the_drain_short(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    """During a 30 s drain, the second SIGTERM sends the abort signal at once."""
    rt = runtime(
        "--port",
        "0",
        "--drain-delay",
        "30",
        "--abort-signal",
        "INT",
        "run",
        "--",
        *child_cmd("--stop-exit", "4"),
    )
    ready(rt)
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop requested")
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 4
    assert time.monotonic() - start < 3
    assert f"signal {int(signal.SIGINT)}" in rt.child_lines()
    assert f"signal {int(signal.SIGTERM)}" not in rt.child_lines()


def test_abort_signals_leftovers_at_once(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    """The child exited; its TERM-ignoring orphan would be waited for 30 s. The second
    SIGTERM signals it at once and kills it 5 s later; the child's own code stands."""
    rt = runtime(
        "--port",
        "0",
        "--stop-timeout",
        "30",
        "--abort-signal",
        "INT",
        "run",
        "--",
        *child_cmd(
            "--orphans", "1", "--orphan-sleep", "60", "--orphans-ignore-term", "--then-exit", "3"
        ),
    )
    rt.wait_event("waiting for leftover processes")
    rt.signal(signal.SIGTERM)
    rt.wait_event("stop requested")
    start = time.monotonic()
    rt.signal(signal.SIGTERM)
    assert rt.wait(15) == 3
    assert time.monotonic() - start < 8
    assert rt.runtime_events("signalling leftover processes")
    assert rt.runtime_events("killing")[0]["reason"] == "leftover deadline"


def test_signals_during_the_exit_never_change_the_code(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """1. the child exits 3 and leaves an orphan for a moment
    2. from then on SIGTERM arrives every half millisecond until the runtime is gone
    3. five times in a row the exit code is the child's 3 (before: 143 when one landed after
       the signal receiver had closed)."""
    for _ in range(5):
        rt = runtime(
            "--port",
            "0",
            "run",
            "--",
            *child_cmd("--orphans", "1", "--orphan-sleep", "0.3", "--then-exit", "3"),
        )
        rt.wait_event("child exited")
        stop = threading.Event()

        def storm(pid: int = rt.pid, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                os.kill(pid, signal.SIGTERM)  # a zombie until reaped: the pid is ours
                time.sleep(0.0005)

        thread = threading.Thread(target=storm)
        thread.start()
        try:
            os.waitid(os.P_PID, rt.pid, os.WEXITED | os.WNOWAIT)
        finally:
            stop.set()
            thread.join()
        assert rt.wait() == 3, rt.output()
        assert rt.runtime_events("runtime exiting")[0]["code"] == 3
