"""Each stage of the graceful stop, with real processes and real deadlines."""

import json
import signal
import subprocess
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
