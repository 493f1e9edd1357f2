"""bots-webserver under the runtime: ready, restarted after a kill, stopped with SIGINT.

And the GUI engine runs: 3.3.1's webserver starts them and never waits (they become orphans
the runtime, a subreaper, waits for); 4.0's waits for each one inside the HTTP request. Either
way the engine must get its SIGINT before the deadline, so no mutex row is left.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.bots.kit import BotsDir, StartRuntime, bots_version, generation, run_cli, set_ini
from tests.support import RuntimeProcess, free_port, process_exists, wait_until

pytestmark = [pytest.mark.bots, pytest.mark.slow]


def start_webserver(run_runtime: StartRuntime, bots_dir: BotsDir, *flags: str) -> RuntimeProcess:
    runtime = run_runtime([*flags, "webserver"], bots_dir.env())
    runtime.wait_status("/readyz", 200, timeout=20)
    return runtime


def test_ready_and_stop_within_budget(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """1. webserver starts; /readyz 200 once GET / answers and the checks pass.
    2. SIGTERM to the runtime: /readyz 503 during the 5 s drain, then SIGINT to Bots.
    3. The runtime exits 0 within the 25 s budget and the Bots process is gone.
    """
    runtime = start_webserver(run_runtime, bots_dir)
    pid = runtime.child_pid()
    assert httpx.get(f"http://127.0.0.1:{bots_dir.web_port}/", timeout=5).status_code == 200
    sent = runtime.signal(signal.SIGTERM)
    runtime.wait_status("/readyz", 503, timeout=3)
    assert process_exists(pid), "Bots must keep serving during the drain"
    code = runtime.wait(30)
    took = time.monotonic() - sent
    assert code == 0, runtime.output()
    assert 5.0 <= took < 25.0, took
    assert not process_exists(pid)
    assert runtime.find("stop signal sent", signal="SIGINT")


def test_metrics_name_the_bots_version(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """/metrics' build_info carries the Bots version and generation as labels."""
    runtime = start_webserver(run_runtime, bots_dir, "--drain-delay", "0")
    labels = f'bots_generation="{generation().name}",bots_version="{bots_version()}"'
    assert labels in runtime.text("/metrics")
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0


def test_killed_webserver_is_restarted(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """SIGKILL to bots-webserver: /readyz turns 503, a new pid starts, /readyz 200 again."""
    runtime = start_webserver(run_runtime, bots_dir, "--drain-delay", "0")
    first = runtime.child_pid()
    os.kill(first, signal.SIGKILL)
    runtime.wait_status("/readyz", 503, timeout=5)
    second = runtime.child_pid(count=2)
    assert second != first
    runtime.wait_status("/readyz", 200, timeout=20)
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0


def login(client: httpx.Client) -> None:
    """Log in to the Bots GUI with its default user, CSRF token included."""
    page = client.get("/login/")
    assert page.status_code == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    reply = client.post(
        "/login/",
        data={
            "csrfmiddlewaretoken": match.group(1),
            "username": "bots",
            "password": "botsbots",
            "next": "/home",
        },
        headers={"Referer": f"{client.base_url}login/"},
    )
    assert reply.status_code == 302, reply.text[:500]


@contextlib.contextmanager
def gui_run(bots_dir: BotsDir) -> Iterator[dict[str, object]]:
    """Log in and ask the GUI to run the engine (`--new`), in a thread: 4.0's webserver
    answers only once the run is over. Yields what the request got, filled in when it ends."""
    result: dict[str, object] = {}
    client = httpx.Client(base_url=f"http://127.0.0.1:{bots_dir.web_port}", timeout=120)
    login(client)

    def request() -> None:
        try:
            reply = client.get(generation().gui_run_path, params={"clparameter": "--new"})
            result["status"] = reply.status_code
            result["text"] = reply.text
        except httpx.HTTPError as err:
            result["error"] = err

    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        thread.join(60)
        client.close()


def test_gui_engine_is_waited_for(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """1. The GUI starts an engine (jobqueue disabled) whose route sleeps 4 s; it holds the
       shared engine lock.
    2. SIGTERM to the runtime while the route runs; the webserver gets SIGINT alone.
    3. The runtime exits 0 only after the engine finished its route; no mutex row is left.
    """
    marker = bots_dir.add_sleep_route("guiroute", seconds=4.0)
    runtime = start_webserver(run_runtime, bots_dir, "--drain-delay", "0")
    with gui_run(bots_dir) as result:
        wait_until(lambda: marker.exists() and "start" in marker.read_text(), 15, "the GUI run")
        assert bots_dir.mutex_rows() == 1
        other_pod = run_cli(["engine"], bots_dir.env())
        assert other_pod.returncode == 75, "a GUI run holds the shared engine lock"
        runtime.signal(signal.SIGTERM)
        code = runtime.wait(25)
    assert code == 0, runtime.output()
    assert "Errors while trying to run bots-engine" not in str(result.get("text", ""))
    assert marker.read_text().split() == ["start", "end"]
    assert bots_dir.mutex_rows() == 0
    assert not runtime.find("killing")


def test_gui_run_outlasting_the_stop_budget(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """1. A GUI run whose route sleeps 60 s; SIGTERM with --stop-timeout 8.
    2. SIGINT to the webserver at 0 s; the engine keeps running (4.0's webserver waits for it,
       3.3.1's exits and leaves it behind).
    3. 5 s before the deadline the engine gets SIGINT (4.0: as the rest of the webserver's
       group; 3.3.1: as a leftover): its route is interrupted, it cleans up, nothing is
       killed, no mutex row is left, and the runtime exits 0 before the deadline.
    """
    marker = bots_dir.add_sleep_route("longgui", seconds=60.0)
    runtime = start_webserver(run_runtime, bots_dir, "--drain-delay", "0", "--stop-timeout", "8")
    with gui_run(bots_dir):
        wait_until(lambda: marker.exists() and "start" in marker.read_text(), 15, "the GUI run")
        sent = runtime.signal(signal.SIGTERM)
        code = runtime.wait(20)
        took = time.monotonic() - sent
    assert code == 0, runtime.output()
    assert 3.0 <= took < 8.0, took
    assert marker.read_text().split() == ["start", "interrupted"]
    assert bots_dir.mutex_rows() == 0
    assert not runtime.find("killing"), runtime.output()
    rest = runtime.find("stop signal sent", target="rest")
    leftovers = runtime.find("signalling leftover processes", signal="SIGINT")
    assert rest or leftovers, runtime.output()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_https_webserver_ready(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """With ssl_certificate and ssl_private_key, Bots serves https; readiness still turns 200
    (a TCP check, as the self-signed certificate cannot be verified) and the stop exits 0."""
    cert, key = bots_dir.root / "cert.pem", bots_dir.root / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
            *("-subj", "/CN=localhost", "-days", "1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    bots_dir.set("webserver", "ssl_certificate", str(cert))
    bots_dir.set("webserver", "ssl_private_key", str(key))
    runtime = start_webserver(run_runtime, bots_dir, "--drain-delay", "0")
    reply = httpx.get(f"https://127.0.0.1:{bots_dir.web_port}/", verify=False, timeout=5)
    assert reply.status_code == 200
    assert "[+]web ok" in runtime.text("/readyz?verbose")
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0


def test_gui_run_not_started_while_locked(run_runtime: StartRuntime, bots_dir: BotsDir) -> None:
    """While an engine pod holds the shared lock, a GUI run is not started (exit 75 logged)
    instead of finding the other run's mutex row and doing crash recovery under it."""
    marker = bots_dir.add_sleep_route("lockedroute", seconds=10.0)
    # Another pod: same shared folder, another network namespace. Simulated by a second config
    # folder whose engine lock port differs, so Bots' own per-host port lock cannot see it.
    pod_config = bots_dir.root / "config-pod2"
    shutil.copytree(bots_dir.config, pod_config)
    set_ini(pod_config / "bots.ini", "settings", "port", str(free_port()))
    engine = run_runtime(["engine"], bots_dir.env(BOTS_CONFIG_DIR=str(pod_config)), health=False)
    wait_until(lambda: marker.exists() and "start" in marker.read_text(), 15, "the engine pod")
    runtime = start_webserver(run_runtime, bots_dir, "--drain-delay", "0")
    assert marker.read_text().split() == ["start"], "the engine pod must still be running"
    with gui_run(bots_dir):
        runtime.wait_line("bots-engine (GUI run): not started:", timeout=15)
    assert engine.wait(30) == 0
    assert marker.read_text().split() == ["start", "end"]
    assert "database is locked" not in engine.output()
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0
