"""The image, built and run with podman: metadata, size, health, PID 1, a clean stop, the
services on one shared volume, and the Kubernetes layout (read-only root, ConfigMap files)."""

from __future__ import annotations

import re
import shutil
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from .podman import BASE_IMAGE, REPO, Podman, wait_for

if TYPE_CHECKING:
    from pathlib import Path

# What the Kubernetes pods get: a read-only root with only /tmp writable, non-root.
RESTRICTED = (
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
WEB_GRACE = 35  # terminationGracePeriodSeconds of the webserver Deployment
ADDED_LIMIT = 110 * 1000 * 1000  # 250 MB on python:3.11-slim (~130 MB) is ~110 MB on top
K8S_CONFIG = REPO / "k8s" / "base" / "config"


def init_db(podman: Podman, image: str, volume: str, *extra: str) -> None:
    done = podman.once(
        "init-db", *RESTRICTED, "-v", f"{volume}:/var/lib/bots", *extra, image, "init-db"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "init-db: done" in done.stdout + done.stderr


def start_web(podman: Podman, image: str, volume: str, what: str = "web", *extra: str) -> str:
    return podman.start(
        what,
        *RESTRICTED,
        "-v",
        f"{volume}:/var/lib/bots",
        "-p",
        "127.0.0.1::8099",
        "-p",
        "127.0.0.1::8080",
        *extra,
        image,
    )


def healthy(podman: Podman, name: str) -> bool:
    """`podman healthcheck run` (the image's HEALTHCHECK) exits 0."""
    done = podman.run("healthcheck", "run", name, check=False, timeout=30)
    if done.returncode not in {0, 1}:
        raise AssertionError(f"healthcheck run: {done.returncode} {done.stderr}")
    return done.returncode == 0


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_image_metadata(podman: Podman, image: str) -> None:
    """Non-root 10001, ENTRYPOINT bots-runtime, CMD webserver, a HEALTHCHECK with `bots-runtime
    probe`, both ports exposed, SIGTERM, OCI labels; neither tini nor curl inside."""
    data = podman.inspect(image)
    config = data["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["bots-runtime"]
    assert config["Cmd"] == ["webserver"]
    assert set(config["ExposedPorts"]) == {"8080/tcp", "8099/tcp"}
    assert config["StopSignal"] == "SIGTERM"
    assert data["Healthcheck"]["Test"][:3] == ["CMD", "bots-runtime", "probe"]
    labels = data["Labels"]
    for key in ("title", "description", "version", "revision", "licenses"):
        assert labels[f"org.opencontainers.image.{key}"], key
    # The default build: Bots 3.3.1 from PyPI with psycopg2, and the labels say so.
    assert labels["bots-runtime.bots.version"] == "3.3.1"
    assert labels["bots-runtime.bots.source"] == "bots-ediint==3.3.1"
    assert labels["bots-runtime.db-drivers"] == "psycopg2"
    assert "Bots EDI 3.3.1" in labels["org.opencontainers.image.description"]
    held = podman.run(
        "run",
        "--rm",
        "--entrypoint",
        "python",
        image,
        "-c",
        "import importlib.metadata as m, psycopg2, django; print(m.version('bots-ediint'),"
        " django.get_version()); import MySQLdb",
        check=False,
    )
    assert held.stdout.split() == ["3.3.1", "2.2.28"], held.stderr
    assert "No module named 'MySQLdb'" in held.stderr
    done = podman.run(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "command -v tini dumb-init curl wget pip; id -u",
        check=False,
    )
    assert done.stdout.split() == ["10001"]


def test_image_adds_at_most_110_mb_to_its_base(podman: Podman, image: str) -> None:
    """What the Dockerfile adds to its base stays within the 250 MB budget on python:3.11-slim."""
    base = int(podman.run("image", "inspect", "-f", "{{.Size}}", BASE_IMAGE).stdout)
    size = int(podman.run("image", "inspect", "-f", "{{.Size}}", image).stdout)
    print(
        f"image {size / 1e6:.1f} MB, base {base / 1e6:.1f} MB, added {(size - base) / 1e6:.1f} MB"
    )
    assert 0 < size - base <= ADDED_LIMIT


def test_webserver_healthy_ready_pid1_and_stops_cleanly(podman: Podman, image: str) -> None:
    """1. The image's default service (the webserver) starts on a fresh volume, with a
    read-only root and no capabilities: its first run fills the volume with init-db.
    2. `podman healthcheck run` turns healthy; /readyz answers 200 on the published port; the
    web UI answers; /metrics serves the runtime's series. 3. PID 1 is bots-runtime as uid
    10001, and the root filesystem refuses writes. 4. `podman stop` (SIGTERM) ends it inside
    the grace period with exit code 0."""
    volume = podman.volume()
    password = podman.secret("admin-password", "Adm1n-in-the-image")
    admin = (
        # A read-only root gets no new mount point: the secret goes into a tmpfs there.
        *("--tmpfs", "/run/secrets:mode=0755"),
        *("--secret", f"{password},uid=10001,mode=0400"),
        *("-e", "BOTS_ADMIN_USER=admin"),
        *("-e", f"BOTS_ADMIN_PASSWORD_FILE=/run/secrets/{password}"),
    )
    web = start_web(podman, image, volume, "web", *admin)
    wait_for(lambda: healthy(podman, web), 60, "the webserver to become healthy")
    first = podman.logs(web)
    assert "init-db: first run of webserver: no bots.ini or settings.py in" in first
    assert "init-db: created GUI superuser admin (the admin user)" in first
    assert "init-db: done;" in first
    port = podman.host_port(web, 8099)
    ready = get(f"http://127.0.0.1:{port}/readyz")
    assert ready is not None
    assert ready.status_code == 200
    base = f"http://127.0.0.1:{podman.host_port(web, 8080)}"
    ui = get(f"{base}/")
    assert ui is not None
    assert ui.status_code == 200
    _login(base, "admin", "Adm1n-in-the-image").close()
    with pytest.raises(AssertionError):
        _login(base)  # the install database's bots/botsbots is gone
    metrics = get(f"http://127.0.0.1:{port}/metrics")
    assert metrics is not None
    for name in (
        "bots_runtime_ready 1.0",
        "bots_runtime_child_up 1.0",
        "bots_runtime_child_restarts_total",
        "bots_child_process_resident_memory_bytes",
        # The EDI collector read Bots' SQLite database (its 24 h bound needs the image's tzdata).
        'bots_runtime_collector_up{collector="edi"} 1.0',
        "bots_edi_engine_lock_rows 0.0",
    ):
        assert name in metrics.text, name
    cmdline = podman.run("exec", web, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert any(part.endswith("/bots-runtime") for part in cmdline[:2]), cmdline
    assert cmdline[-2:] == ["webserver", ""]
    status = podman.run("exec", web, "cat", "/proc/1/status").stdout
    assert re.search(r"^Uid:\s+10001\s", status, re.MULTILINE)
    write = podman.run("exec", web, "touch", "/opt/bots-runtime/x", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    started = time.monotonic()
    podman.run("stop", "-t", str(WEB_GRACE), web, timeout=WEB_GRACE + 30)
    took = time.monotonic() - started
    state = podman.inspect(web)["State"]
    print(f"podman stop took {took:.2f}s")
    assert state["ExitCode"] == 0
    assert took < WEB_GRACE - 5
    assert '"stop requested"' in podman.logs(web)


def _login(base: str, user: str = "bots", password: str = "botsbots") -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=True, timeout=10)
    try:
        return _log_in(client, base, user, password)
    except BaseException:
        client.close()
        raise


def _log_in(client: httpx.Client, base: str, user: str, password: str) -> httpx.Client:
    client.get("/login/")
    token = client.cookies.get("csrftoken")
    assert token
    page = client.post(
        "/login/",
        data={
            "username": user,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": "/home",
        },
        headers={"Referer": f"{base}/login/"},
    )
    assert page.status_code == 200
    assert page.url.path == "/home"
    return client


def _report_rows(client: httpx.Client) -> int:
    page = client.get("/reports/")
    assert page.status_code == 200
    return page.text.count("<tr")


def test_services_share_one_volume(podman: Podman, image: str) -> None:
    """init-db, then the webserver and engine runs on one podman volume: an engine run exits
    with the engine's code (0), and the web UI lists that run from the same database; an
    engine whose lock port is taken exits with Bots' code 3; while another container holds the
    engine lock file on the volume, the runtime exits 75 without starting Bots."""
    volume = podman.volume()
    init_db(podman, image, volume)
    web = start_web(podman, image, volume)
    wait_for(lambda: healthy(podman, web), 60, "the webserver to become healthy")
    client = _login(f"http://127.0.0.1:{podman.host_port(web, 8080)}")
    try:
        _engine_runs_on_the_shared_volume(podman, image, volume, client)
    finally:
        client.close()


def _engine_runs_on_the_shared_volume(
    podman: Podman, image: str, volume: str, client: httpx.Client
) -> None:
    before = _report_rows(client)
    engine = podman.once("engine", *RESTRICTED, "-v", f"{volume}:/var/lib/bots", image, "engine")
    assert engine.returncode == 0, engine.stdout + engine.stderr
    assert podman.inspect(podman.name("engine"))["State"]["ExitCode"] == 0
    assert _report_rows(client) == before + 1
    # A process that holds 127.0.0.1:28081 in the engine's network namespace: Bots exits 3.
    holder = podman.start(
        "holder",
        *RESTRICTED,
        image,
        "run",
        "--port",
        "0",
        "--",
        "python3",
        "-c",
        "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 28081)); s.listen();"
        " print('bound', flush=True); time.sleep(120)",
    )
    wait_for(lambda: "bound" in podman.logs(holder), 30, "the lock port holder")
    busy = podman.once(
        "engine-busy",
        *RESTRICTED,
        "--network",
        f"container:{holder}",
        "-v",
        f"{volume}:/var/lib/bots",
        image,
        "engine",
    )
    assert busy.returncode == 3, busy.stdout + busy.stderr
    # Another container holding the runtime's engine lock file on the shared volume (as an
    # engine pod on another node would): the runtime starts nothing and exits 75.
    locker = podman.start(
        "locker",
        *RESTRICTED,
        "-v",
        f"{volume}:/var/lib/bots",
        image,
        "run",
        "--port",
        "0",
        "--",
        "python3",
        "-c",
        "import fcntl, time; f = open('/var/lib/bots/botssys/.bots-engine.lock', 'a');"
        " fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('locked', flush=True);"
        " time.sleep(120)",
    )
    wait_for(lambda: "locked" in podman.logs(locker), 30, "the engine lock holder")
    locked = podman.once(
        "engine-locked", *RESTRICTED, "-v", f"{volume}:/var/lib/bots", image, "engine"
    )
    assert locked.returncode == 75, locked.stdout + locked.stderr
    assert _report_rows(client) == before + 1


def test_kubernetes_layout_with_configmap_files(podman: Podman, image: str, tmp_path: Path) -> None:
    """As in the pods: a ConfigMap's files are the config folder, mounted read-only inside the
    data volume, with a read-only root; init-db completes the volume without writing to the
    config folder; the webserver runs with the default config. The dirmonitor pod: the
    jobqueueserver (its runtime on 8098, as the sidecar) and the dirmonitor (8099) share one
    network namespace with the job-queue variant (bots-config-jobqueue); all turn healthy, and
    a file dropped into the watched folder reaches the queue over localhost."""
    volume = podman.volume()
    files = ["-v", f"{K8S_CONFIG}:/var/lib/bots/config:ro"]
    variant = tmp_path / "config"
    variant.mkdir()
    for name in ("__init__.py", "settings.py"):
        shutil.copy(K8S_CONFIG / name, variant / name)
    shutil.copy(K8S_CONFIG.parent / "config-jobqueue" / "bots.ini", variant / "bots.ini")
    variant.chmod(0o755)
    queue_files = ["-v", f"{variant}:/var/lib/bots/config:ro"]
    init_db(podman, image, volume, *files)
    done = podman.once(
        "mkdir",
        *RESTRICTED,
        "-v",
        f"{volume}:/var/lib/bots",
        *files,
        image,
        "run",
        "--port",
        "0",
        "--",
        "mkdir",
        "-p",
        "/var/lib/bots/botssys/infile/dirmonitor",
    )
    assert done.returncode == 0, done.stderr
    web = start_web(podman, image, volume, "web", *files)
    # The pod's network namespace belongs to the queue's container; the dirmonitor joins it.
    queue = podman.start(
        "jobqueue",
        *RESTRICTED,
        "-v",
        f"{volume}:/var/lib/bots",
        *queue_files,
        "-e",
        "BOTS_RUNTIME_PORT=8098",
        image,
        "jobqueueserver",
    )
    wait_for(lambda: healthy(podman, queue), 60, "the jobqueueserver to become healthy")
    monitor = podman.start(
        "dirmonitor",
        *RESTRICTED,
        "--network",
        f"container:{queue}",
        "-v",
        f"{volume}:/var/lib/bots",
        *queue_files,
        image,
        "dirmonitor",
    )
    for name in (web, monitor):
        wait_for(lambda n=name: healthy(podman, n), 60, f"{name} to become healthy")
    wait_for(
        lambda: "Bots dirmonitor started" in podman.logs(monitor), 30, "dirmonitor's start line"
    )
    logs = podman.logs(web)
    assert "/var/lib/bots/config" in logs
    ports = {
        c: podman.run("exec", c, "cat", "/proc/1/environ").stdout.split("\0")
        for c in (queue, monitor)
    }
    assert "BOTS_RUNTIME_PORT=8098" in ports[queue]
    assert "BOTS_RUNTIME_PORT=8099" in ports[monitor]
    podman.run(
        "exec", monitor, "sh", "-c", "echo x > /var/lib/bots/botssys/infile/dirmonitor/in.edi"
    )

    def queued() -> bool:
        found = podman.run(
            "exec",
            queue,
            "sh",
            "-c",
            "cat /var/lib/bots/botssys/logging/jobqueue*.log",
            check=False,
        )
        return "Added job" in found.stdout

    wait_for(queued, 30, "the dirmonitor's job in the queue's log")


@pytest.mark.prometheus
def test_engine_run_pushes_its_outcome(podman: Podman, image: str) -> None:
    """With BOTS_RUNTIME_PUSHGATEWAY set (as the monitoring component does), an engine run
    pushes job="bots_engine" series that the alerts read: exit code 0 and a success time, and
    Bots' report of the run as job="bots_engine_report" (one empty `new` command).
    The Pushgateway (Debian's binary) runs in a container whose network the engine shares."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.fail("prometheus-pushgateway not found: apt-get install prometheus-pushgateway")
    volume = podman.volume()
    init_db(podman, image, volume)
    gateway = podman.start(
        "pushgateway",
        *RESTRICTED,
        "-v",
        f"{binary}:/usr/local/bin/pushgateway:ro",
        "--entrypoint",
        "/usr/local/bin/pushgateway",
        "-p",
        "127.0.0.1::9091",
        image,
        "--web.listen-address=:9091",  # its own namespace: the published port must reach it
    )
    base = f"http://127.0.0.1:{podman.host_port(gateway, 9091)}"
    wait_for(
        lambda: (r := get(f"{base}/-/ready")) is not None and r.status_code == 200,
        30,
        "the Pushgateway",
    )
    started = time.time()
    engine = podman.once(
        "engine",
        *RESTRICTED,
        "--network",
        f"container:{gateway}",
        "-v",
        f"{volume}:/var/lib/bots",
        "-e",
        "BOTS_RUNTIME_PUSHGATEWAY=http://127.0.0.1:9091",
        image,
        "engine",
    )
    assert engine.returncode == 0, engine.stdout + engine.stderr
    page = get(f"{base}/metrics")
    assert page is not None
    samples = {
        line.split("{")[0]: line
        for line in page.text.splitlines()
        if line.startswith("bots_engine_") and 'job="bots_engine"' in line
    }
    assert samples["bots_engine_last_exit_code"].endswith(" 0")
    success = float(samples["bots_engine_last_success_timestamp_seconds"].rsplit(" ", 1)[1])
    assert started - 5 <= success <= time.time() + 5
    assert "bots_engine_last_run_duration_seconds" in samples
    # Bots' report of the run, read from the database in the image (job bots_engine_report).
    report = [line for line in page.text.splitlines() if 'job="bots_engine_report"' in line]
    assert any(
        line.startswith("bots_engine_last_run_outcome_known{") and line.endswith(" 1")
        for line in report
    ), report
    assert any(
        line.startswith("bots_engine_last_run_commands{") and 'type="new"' in line
        for line in report
    ), report
    assert "engine run ok: no files received" in engine.stdout + engine.stderr
