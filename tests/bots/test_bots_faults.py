"""bots-engine under repeated stop signals and signals racing the exit, with the mutex checked.

Bots marks a running engine with a row in its `mutex` table and removes it only when the run
ends normally or on SIGINT (KeyboardInterrupt); a SIGKILLed engine leaves it, and the next
run logs "database is locked" and does crash recovery.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import TYPE_CHECKING

import pytest

from tests.bots.kit import BotsDir, SlowGateway, StartRuntime
from tests.bots.test_bots_engine import started, stopped_code
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.bots, pytest.mark.slow]


def test_second_sigterm_aborts_the_run_and_leaves_no_mutex(
    run_runtime: StartRuntime, bots_dir: BotsDir
) -> None:
    """1. a route sleeps 30 s; SIGTERM: the engine's plan lets the run go on (20 s)
    2. a second SIGTERM: SIGINT goes to the engine at once, instead of SIGKILL
    3. the engine stops (3.3.1: aborts the step, exit 2; 4.0: ends the run, 130) within
       seconds; no mutex row is left
    (before: SIGKILL, 137, the mutex row left in 8 of 12 such trials)."""
    marker = bots_dir.add_sleep_route("twice", seconds=30.0)
    runtime = run_runtime(["engine"], bots_dir.env())
    wait_until(lambda: started(marker), 15, "the route to start")
    runtime.signal(signal.SIGTERM)
    runtime.wait_event("stop requested")
    assert marker.read_text().split() == ["start"]
    sent = runtime.signal(signal.SIGTERM)
    assert runtime.wait(15) == stopped_code(), runtime.output()
    assert time.monotonic() - sent < 5.0
    assert marker.read_text().split() == ["start", "interrupted"]
    assert runtime.find("stop signal again: aborting", sent="SIGINT")
    assert not runtime.find("killing")
    assert bots_dir.mutex_rows() == 0


def test_third_sigterm_kills_and_the_next_run_recovers(
    run_runtime: StartRuntime, bots_dir: BotsDir
) -> None:
    """1. a route sleeps 30 s and takes 5 s to clean up after an interrupt
    2. SIGTERM, SIGTERM (SIGINT to the engine: it starts cleaning up), SIGTERM again
    3. the third one kills at once: 137, and the mutex row is left, as documented
    4. the next run sees the lock, recovers, and exits 0."""
    marker = bots_dir.add_sleep_route("thrice", seconds=30.0, cleanup=5.0)
    runtime = run_runtime(["engine"], bots_dir.env())
    wait_until(lambda: started(marker), 15, "the route to start")
    runtime.signal(signal.SIGTERM)
    runtime.wait_event("stop requested")
    runtime.signal(signal.SIGTERM)
    runtime.wait_event("stop signal again: aborting")
    wait_until(lambda: "interrupted" in marker.read_text().split(), 5, "the interrupt")
    sent = runtime.signal(signal.SIGTERM)
    assert runtime.wait(10) == 137, runtime.output()
    assert time.monotonic() - sent < 3.0
    assert marker.read_text().split() == ["start", "interrupted"]
    assert runtime.find("killing", reason="forced")
    assert bots_dir.mutex_rows() == 1
    bots_dir.deactivate_routes()
    after = run_runtime(["engine"], bots_dir.env())
    assert after.wait(30) == 0, after.output()
    assert "database is locked" in after.output()
    assert bots_dir.mutex_rows() == 0


@pytest.fixture(name="gateway")
def _gateway() -> Iterator[SlowGateway]:
    server = SlowGateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_sigterm_storm_during_the_push_keeps_the_code_and_the_push(
    run_runtime: StartRuntime, bots_dir: BotsDir, gateway: SlowGateway
) -> None:
    """1. an engine run ends with 0; the runtime pushes its outcome to a gateway that holds
       the request
    2. from that moment SIGTERM arrives every half millisecond until the runtime is gone
       (a pod deleted just as its job finished)
    3. the gateway answers after 0.5 s: the push is complete, logged, and the runtime exits
       with the engine's 0 (before: 143 and no push)."""
    runtime = run_runtime(["--pushgateway", gateway.url, "engine"], bots_dir.env())
    assert gateway.arrived.wait(30), runtime.output()
    stop = threading.Event()

    def storm() -> None:
        while not stop.is_set():
            os.kill(runtime.pid, signal.SIGTERM)  # a zombie until reaped: the pid is ours
            time.sleep(0.0005)

    thread = threading.Thread(target=storm)
    thread.start()
    try:
        time.sleep(0.5)  # the storm runs while the push is held
        gateway.release.set()
        os.waitid(os.P_PID, runtime.pid, os.WEXITED | os.WNOWAIT)
    finally:
        stop.set()
        thread.join()
    assert runtime.wait(10) == 0, runtime.output()
    assert b"bots_engine_last_exit_code 0" in b"".join(gateway.bodies)
    assert runtime.find("pushed engine run metrics", code=0)
    assert runtime.find("runtime exiting", code=0)
