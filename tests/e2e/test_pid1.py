"""The CLI as a black box, as PID 1 of a new PID namespace and as a subreaper."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.support import (
    CHILD,
    PYTHON,
    RuntimeFactory,
    RuntimeProcess,
    children_of,
    wait_until,
    zombies_of,
)


def unshare_works() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


pytestmark = pytest.mark.pidns
needs_pidns = pytest.mark.skipif(not unshare_works(), reason="unshare --pid needs root")


class Namespaced(RuntimeProcess):
    """`unshare --pid --fork --mount-proc python -m bots_runtime ...`: runtime is PID 1 inside."""

    def __init__(self, args: list[str]) -> None:
        super().__init__(args, prefix=("unshare", "--pid", "--fork", "--mount-proc"))

    def runtime_host_pid(self) -> int:
        return int(wait_until(lambda: children_of(self.proc.pid) and children_of(self.proc.pid)[0]))


@needs_pidns
def test_as_pid1_orphans_are_reaped_and_exit_code_kept() -> None:
    """1. runtime is PID 1 2. the child leaves 50 orphans that exit 0.2 s later
    3. 0.25 s after that no zombie is left 4. SIGTERM: the child's own code comes out."""
    rt = Namespaced(
        [
            "--port",
            "0",
            "--log-level",
            "debug",
            "run",
            "--",
            PYTHON,
            str(CHILD),
            "--orphans",
            "50",
            "--orphan-sleep",
            "0.2",
            "--stop-exit",
            "3",
        ]
    )
    try:
        rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()))
        ready_at = time.monotonic()
        pid1 = rt.runtime_host_pid()
        started = rt.wait_event("child started")
        assert started["pid"] == 2  # the runtime itself is PID 1 in the namespace
        time.sleep(max(0.0, ready_at + 0.2 + 0.25 - time.monotonic()))  # measure, not sync
        assert zombies_of(pid1) == []
        rt.wait_for(lambda r: len(r.runtime_events("orphan reaped")) == 50)
        os.kill(pid1, signal.SIGTERM)
        assert rt.wait() == 3
    finally:
        rt.kill()


@needs_pidns
def test_as_pid1_child_exit_code_survives_concurrent_orphans() -> None:
    """The main child exits 7 right after making orphans; the status is never stolen (no 255)."""
    for _ in range(3):
        rt = Namespaced(
            [
                "--port",
                "0",
                "run",
                "--",
                PYTHON,
                str(CHILD),
                "--orphans",
                "20",
                "--orphan-sleep",
                "0",
                "--then-exit",
                "7",
            ]
        )
        assert rt.wait() == 7


@needs_pidns
def test_as_pid1_sigterm_from_inside_the_namespace_is_handled() -> None:
    rt = Namespaced(["--port", "0", "run", "--", PYTHON, str(CHILD)])
    try:
        rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()))
        os.kill(rt.runtime_host_pid(), signal.SIGTERM)
        assert rt.wait() == 0
    finally:
        rt.kill()


def test_as_subreaper_orphans_are_reaped(runtime: RuntimeFactory) -> None:
    rt = runtime(
        "--port",
        "0",
        "--log-level",
        "debug",
        "run",
        "--",
        PYTHON,
        str(CHILD),
        "--orphans",
        "10",
        "--orphan-sleep",
        "0.1",
    )
    rt.wait_for(lambda r: len(r.runtime_events("orphan reaped")) == 10)
    assert zombies_of(rt.pid) == []
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 0


def test_without_subreaper_a_warning_is_logged(runtime: RuntimeFactory) -> None:
    rt = runtime("--port", "0", "--subreaper", "false", "run", "--", PYTHON, "-c", "pass")
    assert rt.wait() == 0
    assert rt.runtime_events("orphans cannot be reaped here: not PID 1 and not a subreaper")
