"""bots-jobqueueserver and bots-dirmonitor under the runtime: ready, restarted, stopped.

What differs between Bots generations comes from the generation table: 3.3.1's queue never
starts the jobs it holds, 4.0's does (through the locking shim); 4.0's dirmonitor needs the
queue at start and also watches routes flagged in the database.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import xmlrpc.client

import pytest

from tests.bots.kit import BotsDir, StartRuntime, generation, run_cli, set_ini
from tests.support import RuntimeProcess, free_port, process_exists, wait_until

pytestmark = [pytest.mark.bots, pytest.mark.slow]


def runs_jobs() -> bool:
    return generation().config.jobqueue_runs_jobs


def started(marker: os.PathLike[str]) -> bool:
    path = os.fspath(marker)
    try:
        with open(path) as handle:
            return "start" in handle.read().split()
    except OSError:
        return False


def start_jobqueue(run_runtime: StartRuntime, bots_dir: BotsDir) -> RuntimeProcess:
    bots_dir.enable_jobqueue()
    runtime = run_runtime(["--drain-delay", "0", "jobqueueserver"], bots_dir.env())
    runtime.wait_status("/readyz", 200, timeout=20)
    return runtime


def other_pod(bots_dir: BotsDir) -> dict[str, str]:
    """Another pod on the same shared folder: a second config folder whose engine lock port
    differs, so Bots' own per-host port lock cannot see the first pod's engine."""
    pod_config = bots_dir.root / "config-pod2"
    shutil.copytree(bots_dir.config, pod_config)
    set_ini(pod_config / "bots.ini", "settings", "port", str(free_port()))
    return bots_dir.env(BOTS_CONFIG_DIR=str(pod_config))


class TestJobqueue:
    def test_ready_without_touching_the_queue(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """Readiness probes (an unknown XML-RPC method) leave a queued job in place.

        3.3.1's queue never starts a job: one is queued and popped back with `getjob`. 4.0's
        starts them: a second job waits while the first (an engine run) runs, and `listjobs`
        (read-only) still shows it after the probes; the stop then interrupts the running
        engine cleanly (its group gets the SIGINT), no mutex row left.
        """
        marker = bots_dir.add_sleep_route("busy", seconds=30.0) if runs_jobs() else None
        runtime = start_jobqueue(run_runtime, bots_dir)
        server = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{bots_dir.jobqueue_port}/")
        if marker is None:
            waiting = ["/bin/true", "queued"]
        else:
            assert server.addjob(["bots-engine", f"-c{bots_dir.config}", "busy"], 5) == 0
            wait_until(lambda: started(marker), 20, "the queued engine run to start")
            waiting = ["bots-engine", f"-c{bots_dir.config}", "--new"]
        assert server.addjob(waiting, 5) == 0
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
        if marker is None:
            assert server.getjob() == [5, 1, waiting]
        else:
            assert server.listjobs() == [[5, 2, waiting]]
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 0, runtime.output()
        if marker is not None:
            assert marker.read_text().split() == ["start", "interrupted"]
            assert bots_dir.mutex_rows() == 0

    def test_stop(self, run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
        """SIGTERM: the generation's SIGINTs (3.3.1: a second one 2 s later, as one only
        closes the socket; 4.0: one, after which it exits 143, a clean stop) and exit 0 well
        inside the 10 s budget."""
        rules = generation().services["jobqueueserver"]
        runtime = start_jobqueue(run_runtime, bots_dir)
        pid = runtime.child_pid()
        sent = runtime.signal(signal.SIGTERM)
        code = runtime.wait(15)
        took = time.monotonic() - sent
        assert code == 0, runtime.output()
        assert rules.stop.steps[-1].at <= took < 10.0, took
        assert len(runtime.find("stop signal sent", signal="SIGINT")) == len(rules.stop.steps)
        (exited,) = runtime.find("child exited")
        shell = (
            exited["code"] if exited["signal"] is None else 128 + signal.Signals[exited["signal"]]
        )
        assert shell == rules.stopped_code
        assert not process_exists(pid)

    def test_killed_server_is_restarted(self, run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
        """SIGKILL to the jobqueue server: /readyz 503, a new pid, /readyz 200 again."""
        runtime = start_jobqueue(run_runtime, bots_dir)
        first = runtime.child_pid()
        os.kill(first, signal.SIGKILL)
        runtime.wait_status("/readyz", 503, timeout=5)
        assert runtime.child_pid(count=2) != first
        runtime.wait_status("/readyz", 200, timeout=20)
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 0


class TestQueuedEngineLock:
    @pytest.fixture(autouse=True)
    def _only_where_the_queue_runs_jobs(self, bots_dir: BotsDir) -> None:
        if not runs_jobs():
            pytest.skip("this Bots' job queue never starts the jobs it queues (3.3.1)")

    def test_queued_run_holds_the_shared_lock(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """A queued engine run (started by the queue through PATH, so through the shim) holds
        the shared engine lock: an engine pod started meanwhile exits 75 at once."""
        marker = bots_dir.add_sleep_route("queued", seconds=6.0)
        runtime = start_jobqueue(run_runtime, bots_dir)
        server = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{bots_dir.jobqueue_port}/")
        assert server.addjob(["bots-engine", f"-c{bots_dir.config}", "queued"], 5) == 0
        wait_until(lambda: started(marker), 20, "the queued engine run to start")
        pod = run_cli(["engine"], other_pod(bots_dir))
        assert pod.returncode == 75, pod.stderr
        assert ".bots-engine.lock" in pod.stderr
        wait_until(lambda: "end" in marker.read_text().split(), 20, "the queued route to end")
        wait_until(lambda: bots_dir.mutex_rows() == 0, 20, "the queued engine to finish")
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 0

    def test_queued_run_not_started_while_locked(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """While an engine pod holds the shared lock, a queued run is not started, and the
        container's log says so (the queue logs the failed job's stderr on its console)."""
        marker = bots_dir.add_sleep_route("podrun", seconds=8.0)
        engine = run_runtime(["engine"], other_pod(bots_dir), health=False)
        wait_until(lambda: started(marker), 15, "the engine pod's run")
        runtime = start_jobqueue(run_runtime, bots_dir)
        server = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{bots_dir.jobqueue_port}/")
        assert server.addjob(["bots-engine", f"-c{bots_dir.config}", "--new"], 5) == 0
        runtime.wait_line("bots-engine (queued run): not started:", timeout=20)
        assert engine.wait(30) == 0, engine.output()
        assert marker.read_text().split() == ["start", "end"]
        assert "database is locked" not in engine.output()
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


def needs_queue() -> bool:
    return generation().config.dirmonitor_needs_jobqueue


def start_dirmonitor(
    run_runtime: StartRuntime, bots_dir: BotsDir, *flags: str, ready: bool = True
) -> RuntimeProcess:
    """The dirmonitor, with the job queue it needs at start (4.0) running beside it."""
    if needs_queue():
        start_jobqueue(run_runtime, bots_dir)
    runtime = run_runtime(["--drain-delay", "0", *flags, "dirmonitor"], bots_dir.env())
    if ready:
        runtime.wait_status("/readyz", 200, timeout=20)
    return runtime


def stopped_code() -> int:
    """3.3.1's dirmonitor dies of its KeyboardInterrupt (130); 4.0's exits 0."""
    return generation().services["dirmonitor"].stopped_code


class TestDirmonitor:
    def test_ready_and_stop(self, run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
        """Ready when the watched path exists (and, 4.0, the queue answers); SIGTERM -> SIGINT
        -> the generation's stopped code within 10 s."""
        dirmonitor_dir(bots_dir)
        runtime = start_dirmonitor(run_runtime, bots_dir)
        sent = runtime.signal(signal.SIGTERM)
        code = runtime.wait(15)
        assert code == stopped_code(), runtime.output()
        assert time.monotonic() - sent < 10.0

    def test_success_codes_map_the_stop_code(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """With --success-codes <its stopped code> (3.3.1: 130) the same stop exits 0."""
        if stopped_code() == 0:
            pytest.skip("this Bots' dirmonitor exits 0 on SIGINT: there is no code to map (4.0)")
        dirmonitor_dir(bots_dir)
        flags = ("--success-codes", str(stopped_code()))
        runtime = start_dirmonitor(run_runtime, bots_dir, *flags)
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == 0

    def test_missing_watch_path_not_ready(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """Bots watches a missing folder silently; /readyz says 503 and names it until it exists."""
        watched = dirmonitor_dir(bots_dir, create=False)
        runtime = start_dirmonitor(run_runtime, bots_dir, ready=False)
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
        assert runtime.wait(15) == stopped_code()

    def test_killed_monitor_is_restarted(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """SIGKILL to bots-dirmonitor: /readyz 503, a new pid, /readyz 200 again."""
        dirmonitor_dir(bots_dir)
        runtime = start_dirmonitor(run_runtime, bots_dir)
        first = runtime.child_pid()
        os.kill(first, signal.SIGKILL)
        runtime.wait_status("/readyz", 503, timeout=5)
        assert runtime.child_pid(count=2) != first
        runtime.wait_status("/readyz", 200, timeout=20)
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == stopped_code()


class TestDirmonitorWithQueue:
    @pytest.fixture(autouse=True)
    def _only_where_the_dirmonitor_needs_the_queue(self, bots_dir: BotsDir) -> None:
        if not needs_queue():
            pytest.skip(
                "this Bots' dirmonitor neither needs the queue at start nor reads routes from"
                " its database (3.3.1)"
            )

    def test_refused_without_a_reachable_queue(self, bots_dir: BotsDir) -> None:
        """No job queue answers: exit 78 after the bounded wait, one line saying why, and
        bots-dirmonitor is never started (Bots would exit 1, again and again)."""
        dirmonitor_dir(bots_dir)
        begun = time.monotonic()
        done = run_cli(["--log-format", "json", "dirmonitor"], bots_dir.env(), timeout=60)
        took = time.monotonic() - begun
        assert done.returncode == 78, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "needs the job queue" in lines[0]
        assert f"127.0.0.1:{bots_dir.jobqueue_port}" in lines[0]
        assert "child started" not in done.stdout
        assert 9.0 < took < 30.0

    def test_database_route_end_to_end(self, run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
        """No [dirmonitorN] section, one route flagged `dirmonitor` in the database:
        1. check and start accept it; the queue and the monitor become ready;
        2. a file dropped into the route's folder is queued, run by a queued engine (through
           the locking shim) and appears in the route's out folder.
        """
        bots_dir.enable_jobqueue()
        bots_dir.routes("--passthrough", "watched", "--watched")
        inbox = bots_dir.botssys / "infile" / "watched"
        outbox = bots_dir.botssys / "outfile" / "watched"
        inbox.mkdir(parents=True, exist_ok=True)
        assert run_cli(["check", "dirmonitor"], bots_dir.env()).returncode == 0
        start_jobqueue(run_runtime, bots_dir)
        runtime = run_runtime(["--drain-delay", "0", "dirmonitor"], bots_dir.env())
        runtime.wait_status("/readyz", 200, timeout=20)
        (inbox / "order.txt").write_text("hello from the dirmonitor test\n")
        wait_until(
            lambda: outbox.is_dir() and any(outbox.iterdir()), 30, "the file to pass the route"
        )
        (result,) = list(outbox.iterdir())
        assert result.read_text() == "hello from the dirmonitor test\n"
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(15) == stopped_code()
