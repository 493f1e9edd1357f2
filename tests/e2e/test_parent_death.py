"""The runtime killed outright while not PID 1: its child must not run on unsupervised."""

import os
import signal

from tests.support import ChildCmd, RuntimeFactory, process_exists, wait_until


def test_child_goes_when_the_runtime_is_killed(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """1. the runtime (not PID 1) supervises a child that would run for an hour
    2. SIGKILL to the runtime: no stop sequence can run, nobody is left to signal the child
    3. the kernel sends the child SIGKILL itself (PR_SET_PDEATHSIG, set before its exec):
       the child is gone within seconds."""
    rt = runtime("--port", "0", "run", "--", *child_cmd())
    rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()))
    child = rt.child_pid()
    assert process_exists(child)
    os.kill(rt.pid, signal.SIGKILL)
    rt.proc.wait(10)
    wait_until(lambda: not process_exists(child), 5, "the child to be gone")


def test_restarted_children_go_too(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    """A child spawned by a restart (from the event loop, not before it) has the same guard."""
    rt = runtime(
        "--port", "0", "--restart", "always", "--min-uptime", "0", "run", "--", *child_cmd()
    )
    first = rt.child_pid()
    os.kill(first, signal.SIGKILL)
    second = rt.child_pid(count=2)
    rt.wait_for(lambda r: sum(line.startswith("ready") for line in r.child_lines()) >= 2)
    os.kill(rt.pid, signal.SIGKILL)
    rt.proc.wait(10)
    wait_until(lambda: not process_exists(second), 5, "the restarted child to be gone")
