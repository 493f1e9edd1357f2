"""Metrics: a fresh registry per runtime, values read from the board at scrape time."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from bots_runtime.core.exit_codes import ExitStatus
from bots_runtime.core.spec import CheckFailedError, CheckSkippedError, CheckSpec
from bots_runtime.core.state import Board, Phase, Snapshot
from bots_runtime.web.checks import CheckRunner
from bots_runtime.web.metrics import build_registry
from bots_runtime.web.probes import CallableProbe
from tests.http.kit import board_in, publish, serving

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client import CollectorRegistry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def _ok() -> str:
    return "ok"


async def _bad() -> str:
    raise CheckFailedError("down")


SPECS = (CheckSpec("db", CallableProbe(_bad)), CheckSpec("disk", CallableProbe(_ok)))


@pytest.fixture(name="child")
def _child() -> Iterator[subprocess.Popen[bytes]]:
    """A real child process with three threads, like a service under the runtime."""
    code = (
        "import threading, time\n"
        "for _ in range(2):\n"
        "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    yield proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


class TestValues:
    def test_fresh_registry_not_global(self) -> None:
        """Each runtime gets its own registry; nothing is added to the library's global one."""
        before = set(REGISTRY._collector_to_names)
        board = board_in(Phase.RUNNING)
        runner = CheckRunner(())
        one = build_registry(board, runner, version="1", service="a")
        two = build_registry(board_in(Phase.FATAL), runner, version="1", service="b")
        assert set(REGISTRY._collector_to_names) == before
        assert value(one, "bots_runtime_build_info", version="1", service="a") == 1
        assert value(one, "bots_runtime_child_state", state="running") == 1
        assert value(two, "bots_runtime_child_state", state="fatal") == 1
        assert value(two, "bots_runtime_build_info", version="1", service="a") is None

    def test_build_info_carries_the_specs_info(self) -> None:
        """What the spec says runs (e.g. the Bots version) becomes labels of build_info."""
        info = {"bots_version": "4.0.0a3", "bots_generation": "4"}
        registry = build_registry(
            board_in(Phase.RUNNING), CheckRunner(()), version="1", service="engine", info=info
        )
        labels = {"version": "1", "service": "engine", **info}
        assert value(registry, "bots_runtime_build_info", **labels) == 1

    def test_state_set_follows_snapshot(self) -> None:
        """Exactly one phase is 1, and it follows each published snapshot."""
        board = Board(Snapshot(service="svc"))
        registry = build_registry(board, CheckRunner(()), version="t", service="svc")
        for phase in Phase:
            publish(board, phase=phase)
            states = {
                p.value: value(registry, "bots_runtime_child_state", state=p.value) for p in Phase
            }
            assert states == {p.value: (1.0 if p is phase else 0.0) for p in Phase}

    def test_child_counters_and_exit(self) -> None:
        """Starts, restarts, up, start time and the last exit come from the snapshot."""
        board = board_in(Phase.RUNNING, starts=3, restarts=2, started_at=1.7e9)
        registry = build_registry(board, CheckRunner(()), version="t", service="svc")
        assert value(registry, "bots_runtime_child_up") == 1
        assert value(registry, "bots_runtime_child_starts_total") == 3
        assert value(registry, "bots_runtime_child_restarts_total") == 2
        assert value(registry, "bots_runtime_child_start_time_seconds") == 1.7e9
        assert value(registry, "bots_runtime_child_last_exit_code") is None
        publish(board, phase=Phase.BACKOFF, pid=None, last_exit=ExitStatus(signal=9))
        assert value(registry, "bots_runtime_child_up") == 0
        assert value(registry, "bots_runtime_child_last_exit_code") == 137
        assert value(registry, "bots_runtime_child_last_exit_info", reason="killed") == 1
        publish(board, last_exit=ExitStatus(code=3))
        assert value(registry, "bots_runtime_child_last_exit_code") == 3
        assert value(registry, "bots_runtime_child_last_exit_info", reason="exited") == 1
        assert value(registry, "bots_runtime_child_last_exit_info", reason="killed") is None

    def test_ready_and_draining(self) -> None:
        """ready mirrors /readyz; draining turns on with the drain."""
        board = board_in(Phase.RUNNING)
        registry = build_registry(board, CheckRunner(()), version="t", service="svc")
        assert value(registry, "bots_runtime_ready") == 1
        assert value(registry, "bots_runtime_draining") == 0
        publish(board, draining=True, phase=Phase.STOPPING)
        assert value(registry, "bots_runtime_ready") == 0
        assert value(registry, "bots_runtime_draining") == 1

    def test_relay_and_signal_counters(self) -> None:
        """Signals, lines, bytes, split lines and reaped orphans come from board.counters."""
        board = board_in(Phase.RUNNING)
        registry = build_registry(board, CheckRunner(()), version="t", service="svc")
        board.counters.count_signal("SIGTERM")
        board.counters.count_signal("SIGTERM")
        board.counters.count_signal("SIGHUP")
        board.counters.lines["stdout"] = 10
        board.counters.bytes["stderr"] = 1234
        board.counters.lines_split["stdout"] = 1
        board.counters.orphans_reaped = 5
        assert value(registry, "bots_runtime_signals_forwarded_total", signal="SIGTERM") == 2
        assert value(registry, "bots_runtime_signals_forwarded_total", signal="SIGHUP") == 1
        assert value(registry, "bots_runtime_log_lines_total", stream="stdout") == 10
        assert value(registry, "bots_runtime_log_lines_total", stream="stderr") == 0
        assert value(registry, "bots_runtime_log_bytes_total", stream="stderr") == 1234
        assert value(registry, "bots_runtime_log_lines_split_total", stream="stdout") == 1
        assert value(registry, "bots_runtime_orphans_reaped_total") == 5

    @pytest.mark.anyio
    async def test_not_checked_is_not_a_pass(self) -> None:
        """A check that could not tell: status 0 (not checked), no failure counted, ready."""

        async def cannot_tell() -> str:
            raise CheckSkippedError("no driver")

        spec = CheckSpec("db", CallableProbe(cannot_tell))
        runner = CheckRunner((spec,))
        registry = build_registry(board_in(Phase.RUNNING), runner, version="t", service="svc")
        await runner.run_once(spec)
        assert value(registry, "bots_runtime_check_status", check="db") == 0
        assert value(registry, "bots_runtime_check_failures_total", check="db") == 0
        assert value(registry, "bots_runtime_ready") == 1

    @pytest.mark.anyio
    async def test_check_metrics(self) -> None:
        """Per check: status, failures counter and a duration histogram."""
        board = board_in(Phase.RUNNING)
        runner = CheckRunner(SPECS)
        registry = build_registry(board, runner, version="t", service="svc")
        assert value(registry, "bots_runtime_check_status", check="db") == 0
        for _ in range(3):
            for spec in SPECS:
                await runner.run_once(spec)
        assert value(registry, "bots_runtime_check_status", check="db") == 0
        assert value(registry, "bots_runtime_check_status", check="disk") == 1
        assert value(registry, "bots_runtime_check_failures_total", check="db") == 3
        assert value(registry, "bots_runtime_check_failures_total", check="disk") == 0
        assert value(registry, "bots_runtime_check_duration_seconds_count", check="db") == 3
        assert (
            value(registry, "bots_runtime_check_duration_seconds_bucket", check="db", le="+Inf")
            == 3
        )
        assert (
            value(registry, "bots_runtime_check_duration_seconds_bucket", check="db", le="0.1") == 3
        )
        assert value(registry, "bots_runtime_ready") == 0

    def test_no_created_series(self) -> None:
        """Counters come without _created series in either format."""
        board = board_in(Phase.RUNNING)
        registry = build_registry(board, CheckRunner(SPECS), version="t", service="svc")
        assert b"_created" not in generate_latest(registry)
        assert b"_created" not in generate_openmetrics(registry)  # type: ignore[no-untyped-call]

    def test_own_process_metrics(self) -> None:
        """The runtime's own process metrics use the standard process_ names."""
        registry = build_registry(
            board_in(Phase.RUNNING), CheckRunner(()), version="t", service="s"
        )
        rss = value(registry, "process_resident_memory_bytes")
        assert rss is not None
        assert rss > 1e6


class TestChildProcess:
    def test_follows_the_child(self, child: subprocess.Popen[bytes]) -> None:
        """bots_child_process_* describe the current child, and vanish when there is none."""
        board = board_in(Phase.RUNNING, pid=child.pid)
        registry = build_registry(board, CheckRunner(()), version="t", service="s")
        rss = value(registry, "bots_child_process_resident_memory_bytes")
        assert rss is not None
        assert rss > 1e6
        assert value(registry, "bots_child_process_threads") == 3
        fds = value(registry, "bots_child_process_open_fds")
        assert fds is not None
        assert fds >= 3
        start = value(registry, "bots_child_process_start_time_seconds")
        assert start is not None
        assert abs(start - time.time()) < 120
        assert value(registry, "bots_child_process_cpu_seconds_total") is not None
        own = value(registry, "process_resident_memory_bytes")
        assert own != rss
        publish(board, phase=Phase.BACKOFF, pid=None)
        assert value(registry, "bots_child_process_resident_memory_bytes") is None
        assert value(registry, "bots_child_process_threads") is None

    def test_follows_a_restart(self, child: subprocess.Popen[bytes]) -> None:
        """After a restart the metrics describe the new child (its own thread count)."""
        board = board_in(Phase.RUNNING, pid=child.pid)
        registry = build_registry(board, CheckRunner(()), version="t", service="s")
        assert value(registry, "bots_child_process_threads") == 3
        with subprocess.Popen(
            [sys.executable, "-c", "import time; print(1, flush=True); time.sleep(60)"],
            stdout=subprocess.PIPE,
        ) as second:
            assert second.stdout is not None
            second.stdout.readline()
            publish(board, pid=second.pid, starts=2)
            assert value(registry, "bots_child_process_threads") == 1
            second.kill()

    def test_exited_child_pid_yields_nothing(self) -> None:
        """A pid that no longer exists gives no child series and no error."""
        proc = subprocess.Popen(["true"])
        proc.wait()
        board = board_in(Phase.RUNNING, pid=proc.pid)
        registry = build_registry(board, CheckRunner(()), version="t", service="s")
        assert value(registry, "bots_child_process_resident_memory_bytes") is None


def _full_output(child_pid: int) -> bytes:
    board = board_in(Phase.RUNNING, pid=child_pid, started_at=1.7e9, last_exit=ExitStatus(code=1))
    board.counters.count_signal("SIGTERM")
    runner = CheckRunner(SPECS)
    registry = build_registry(board, runner, version="0.1.0", service="engine")
    return generate_latest(registry)


@pytest.mark.prometheus
def test_promtool_finds_nothing(child: subprocess.Popen[bytes]) -> None:
    """`promtool check metrics` reports nothing on the real text output."""
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.skip("promtool is not installed")
    text = _full_output(child.pid)
    assert b"bots_child_process_threads" in text
    done = subprocess.run(
        [promtool, "check", "metrics"], check=False, input=text, capture_output=True, timeout=30
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=2) as reply:
        return dict(json.loads(reply.read()))


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.anyio
async def test_real_prometheus_scrapes(tmp_path: Path) -> None:
    """1. The runtime's server runs on a loopback port.
    2. A real Prometheus (own config, tmp storage) scrapes it every second.
    3. Its query API returns bots_runtime_child_up and the check histogram.
    """
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.skip("prometheus is not installed")
    async with serving(board_in(Phase.RUNNING), SPECS, run_checks=True) as served:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: bots\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{served.port}']\n"
        )
        import socket  # noqa: PLC0415

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            web_port = probe.getsockname()[1]
        log = (tmp_path / "prometheus.log").open("wb")
        proc = await anyio.open_process(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{web_port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=log,
        )
        try:
            query = f"http://127.0.0.1:{web_port}/api/v1/query?query=bots_runtime_child_up"
            found: list[object] = []
            with anyio.fail_after(20):
                while not found:
                    await anyio.sleep(0.2)
                    try:
                        answer = await anyio.to_thread.run_sync(_get_json, query)
                    except (urllib.error.URLError, ConnectionError):
                        continue
                    data = answer.get("data")
                    assert isinstance(data, dict)
                    found = list(data.get("result", []))
            (series,) = found
            assert isinstance(series, dict)
            assert series["metric"]["__name__"] == "bots_runtime_child_up"
            assert series["value"][1] == "1"
            histogram = await anyio.to_thread.run_sync(
                _get_json,
                f"http://127.0.0.1:{web_port}/api/v1/query?query=bots_runtime_check_duration_seconds_count",
            )
            data = histogram["data"]
            assert isinstance(data, dict)
            assert {r["metric"]["check"] for r in data["result"]} == {"db", "disk"}
            targets = await anyio.to_thread.run_sync(
                _get_json, f"http://127.0.0.1:{web_port}/api/v1/targets"
            )
            tdata = targets["data"]
            assert isinstance(tdata, dict)
            (target,) = tdata["activeTargets"]
            assert target["health"] == "up", target
        finally:
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(10):
                await proc.wait()
            await proc.aclose()
            log.close()
