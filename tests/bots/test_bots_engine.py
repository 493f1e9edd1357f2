"""bots-engine under the runtime: one run, its exit code, a clean stop, one run at a time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.bots.kit import BotsDir, StartRuntime, generation, run_cli
from tests.support import wait_until

pytestmark = [pytest.mark.bots, pytest.mark.slow]


def stopped_code() -> int:
    """What the engine exits with when the runtime stops it mid-run (3.3.1: 2, 4.0: 130)."""
    return generation().services["engine"].stopped_code


def started(marker: os.PathLike[str]) -> bool:
    path = os.fspath(marker)
    with contextlib.suppress(OSError), open(path) as handle:
        return "start" in handle.read().split()
    return False


def test_run_exits_with_engine_code(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """An engine run with nothing to do: the runtime exits 0, the child is never restarted."""
    runtime = run_runtime(["engine"], bots_dir.env())
    assert runtime.wait(30) == 0, runtime.output()
    assert len(runtime.find("child started")) == 1


def test_stop_mid_run_leaves_no_mutex(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """1. A route sleeps 30 s; /metrics shows the run's start time while it runs.
    2. SIGTERM to the runtime (stop timeout 6 s: SIGINT from 1 s; 3.3.1: every 2 s).
    3. The engine aborts the step and exits with its stopped code (3.3.1: 2, 4.0: 130);
       the runtime exits with it; no mutex row is left.
    4. The next run does not log "database is locked" and exits 0.
    """
    marker = bots_dir.add_sleep_route("sleeper", seconds=30.0)
    runtime = run_runtime(["--stop-timeout", "6", "engine"], bots_dir.env())
    wait_until(lambda: started(marker), 15, "the route to start")
    start_time = runtime.metric("bots_runtime_child_start_time_seconds")
    assert start_time is not None
    assert abs(start_time - time.time()) < 30
    sent = runtime.signal(signal.SIGTERM)
    code = runtime.wait(10)
    took = time.monotonic() - sent
    assert code == stopped_code(), runtime.output()
    assert took < 6.0
    assert marker.read_text().split() == ["start", "interrupted"]
    assert bots_dir.mutex_rows() == 0
    bots_dir.deactivate_routes()
    after = run_runtime(["engine"], bots_dir.env())
    assert after.wait(30) == 0, after.output()
    assert "database is locked" not in after.output()


def test_stop_reaches_every_route_part(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """A route of two 30 s parts is stopped within the stop timeout, with no mutex row left.

    3.3.1: one SIGINT only aborts the running part, the repeat aborts the next one too.
    4.0: the one SIGINT ends the whole run, so the second part never starts.
    """
    marker = bots_dir.add_sleep_route("twoparts", seconds=30.0, parts=2)
    runtime = run_runtime(["--stop-timeout", "8", "engine"], bots_dir.env())
    wait_until(lambda: started(marker), 15, "the route to start")
    sent = runtime.signal(signal.SIGTERM)
    code = runtime.wait(12)
    took = time.monotonic() - sent
    assert code == stopped_code(), runtime.output()
    parts = 1 if generation().sigint_ends_engine_run else 2
    assert marker.read_text().split() == ["start", "interrupted"] * parts
    assert len(runtime.find("stop signal sent", signal="SIGINT")) == parts
    assert took < 8.0
    assert bots_dir.mutex_rows() == 0


def test_killed_engine_is_not_restarted(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """SIGKILL to bots-engine: the runtime exits 137 without a restart; the mutex row stays
    (which is why stops use SIGINT), and the next run does crash recovery."""
    marker = bots_dir.add_sleep_route("victim", seconds=30.0)
    runtime = run_runtime(["engine"], bots_dir.env())
    wait_until(lambda: started(marker), 15, "the route to start")
    os.kill(runtime.child_pid(), signal.SIGKILL)
    assert runtime.wait(10) == 137
    assert len(runtime.find("child started")) == 1
    assert bots_dir.mutex_rows() == 1
    bots_dir.deactivate_routes()
    after = run_runtime(["engine"], bots_dir.env())
    assert after.wait(30) == 0
    assert "database is locked" in after.output()


def test_two_engines_one_runs(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """Two engines on one shared folder at once: the second exits 75 fast, never starting Bots."""
    marker = bots_dir.add_sleep_route("single", seconds=3.0)
    first = run_runtime(["engine"], bots_dir.env())
    wait_until(lambda: started(marker), 15, "the first run's route")
    begun = time.monotonic()
    second = run_cli(["engine"], bots_dir.env(), timeout=30)
    took = time.monotonic() - begun
    assert second.returncode == 75, second.stderr
    assert took < 3.0
    assert ".bots-engine.lock" in second.stderr
    assert "child started" not in second.stderr
    assert first.wait(30) == 0
    assert marker.read_text().split() == ["start", "end"]


def sig_mask(pid: int | str, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith(field + ":")).split()[1], 16)


IGNORE_INT = ("/bin/sh", "-c", 'trap \'\' INT QUIT; exec "$0" "$@"')


def test_inherited_ignored_sigint_is_reset(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """Started like `sh -c 'cmd &'` (SIGINT and SIGQUIT ignored, which survives exec), the
    engine still gets SIGINT back as default: the stop aborts the route (exit 2, 4.0: 130),
    instead of running until SIGKILL at the deadline (137, mutex row left)."""
    control = subprocess.run(
        [*IGNORE_INT, "/bin/cat", "/proc/self/status"], capture_output=True, text=True, check=True
    ).stdout
    ignored = int(next(x for x in control.splitlines() if x.startswith("SigIgn:")).split()[1], 16)
    assert ignored & (1 << (signal.SIGINT - 1)), "the wrapper must really ignore SIGINT"
    marker = bots_dir.add_sleep_route("ignored", seconds=30.0)
    runtime = run_runtime(["--stop-timeout", "6", "engine"], bots_dir.env(), prefix=IGNORE_INT)
    wait_until(lambda: started(marker), 15, "the route to start")
    engine = runtime.child_pid()
    assert sig_mask(engine, "SigCgt") & (1 << (signal.SIGINT - 1)), "Python must catch SIGINT"
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(10) == stopped_code(), runtime.output()
    assert marker.read_text().split() == ["start", "interrupted"]
    assert bots_dir.mutex_rows() == 0
