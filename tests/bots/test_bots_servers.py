"""bots-jobqueueserver and bots-dirmonitor under the runtime: ready, restarted, stopped."""

from __future__ import annotations

import os
import signal
import time
import xmlrpc.client

import pytest

from tests.bots.kit import BotsDir, StartRuntime
from tests.support import process_exists, wait_until

pytestmark = [pytest.mark.bots, pytest.mark.slow]


class TestJobqueue:
    def test_ready_without_touching_the_queue(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """Readiness probes (an unknown XML-RPC method) leave a queued job in place."""
        bots_dir.enable_jobqueue()
        runtime = run_runtime(["--drain-delay", "0", "jobqueueserver"], bots_dir.env())
        runtime.wait_status("/readyz", 200, timeout=20)
        server = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{bots_dir.jobqueue_port}/")
        assert server.addjob(["/bin/true", "queued"], 5) == 0
        probes = runtime.metric('bots_runtime_check_duration_seconds_count{check="xmlrpc"}')
        assert probes is not None
        wait_until(
            lambda: (
                (runtime.metric('bots_runtime_check_duration_seconds_count{check="xmlrpc"}') or 0)
                >= probes + 3
            ),
            15,
            "three more readiness probes",
        )
        assert server.getjob() == [5, 1, ["/bin/true", "queued"]]
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 0

    def test_stop_needs_the_second_sigint(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """SIGTERM: SIGINT, then a second SIGINT 2 s later; exit 0 well inside the 10 s budget."""
        bots_dir.enable_jobqueue()
        runtime = run_runtime(["--drain-delay", "0", "jobqueueserver"], bots_dir.env())
        runtime.wait_status("/readyz", 200, timeout=20)
        pid = runtime.child_pid()
        sent = runtime.signal(signal.SIGTERM)
        code = runtime.wait(15)
        took = time.monotonic() - sent
        assert code == 0, runtime.output()
        assert 2.0 <= took < 10.0, took
        assert len(runtime.find("stop signal sent", signal="SIGINT")) == 2
        assert not process_exists(pid)

    def test_killed_server_is_restarted(self, run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
        """SIGKILL to the jobqueue server: /readyz 503, a new pid, /readyz 200 again."""
        bots_dir.enable_jobqueue()
        runtime = run_runtime(["--drain-delay", "0", "jobqueueserver"], bots_dir.env())
        runtime.wait_status("/readyz", 200, timeout=20)
        first = runtime.child_pid()
        os.kill(first, signal.SIGKILL)
        runtime.wait_status("/readyz", 503, timeout=5)
        assert runtime.child_pid(count=2) != first
        runtime.wait_status("/readyz", 200, timeout=20)
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 0


def dirmonitor_dir(bots_dir: BotsDir, *, create: bool = True) -> str:
    bots_dir.enable_jobqueue()
    watched = bots_dir.root / "inbox"
    if create:
        watched.mkdir()
    bots_dir.set("dirmonitor1", "path", str(watched))
    bots_dir.set("dirmonitor1", "route", "")
    return str(watched)


class TestDirmonitor:
    def test_ready_and_stop_exit_130(self, run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
        """Ready when the watched path exists; SIGTERM -> SIGINT -> exit 130 within 10 s."""
        dirmonitor_dir(bots_dir)
        runtime = run_runtime(["--drain-delay", "0", "dirmonitor"], bots_dir.env())
        runtime.wait_status("/readyz", 200, timeout=20)
        sent = runtime.signal(signal.SIGTERM)
        code = runtime.wait(15)
        assert code == 130, runtime.output()
        assert time.monotonic() - sent < 10.0

    def test_success_codes_map_130(self, run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
        """With --success-codes 130 the same stop exits 0."""
        dirmonitor_dir(bots_dir)
        runtime = run_runtime(
            ["--drain-delay", "0", "--success-codes", "130", "dirmonitor"], bots_dir.env()
        )
        runtime.wait_status("/readyz", 200, timeout=20)
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 0

    def test_missing_watch_path_not_ready(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """Bots watches a missing folder silently; /readyz says 503 and names it until it exists."""
        watched = dirmonitor_dir(bots_dir, create=False)
        runtime = run_runtime(["--drain-delay", "0", "dirmonitor"], bots_dir.env())
        runtime.wait_event("child running", timeout=15)
        wait_until(
            lambda: f"{watched} does not exist" in runtime.text("/readyz?verbose"),
            15,
            "the watch check to fail",
        )
        assert runtime.status("/readyz") == 503
        os.mkdir(watched)
        runtime.wait_status("/readyz", 200, timeout=15)
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 130

    def test_killed_monitor_is_restarted(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """SIGKILL to bots-dirmonitor: /readyz 503, a new pid, /readyz 200 again."""
        dirmonitor_dir(bots_dir)
        runtime = run_runtime(["--drain-delay", "0", "dirmonitor"], bots_dir.env())
        runtime.wait_status("/readyz", 200, timeout=20)
        first = runtime.child_pid()
        os.kill(first, signal.SIGKILL)
        runtime.wait_status("/readyz", 503, timeout=5)
        assert runtime.child_pid(count=2) != first
        runtime.wait_status("/readyz", 200, timeout=20)
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 130
