"""The first run: a Bots service on a folder without a Bots configuration runs init-db first.

Bots' ports are fixed in bots.ini, and a fresh folder has the defaults (8080, 28081), so a
service that must really start runs in a network namespace of its own (`unshare --net`, as a
container has), where those ports are free whatever else this machine runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import initdb
from tests.bots.kit import BASE_PATH, BOTS_PYTHON, ROOT, StartRuntime, have_bots, init_db, run_cli

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

IP = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")


def _netns_works() -> str | None:
    if shutil.which("unshare") is None or IP is None:
        return "unshare and ip (util-linux, iproute2) are needed for a network namespace"
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", IP, "link", "set", "lo", "up"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return f"no network namespace here: {done.stderr.decode(errors='replace').strip()}"
    return None


NETNS = _netns_works()
pytestmark = [
    pytest.mark.bots,
    pytest.mark.skipif(not have_bots(), reason="Bots EDI is not installed"),
]


def own_network() -> tuple[str, ...]:
    """A prefix that runs the command in a new network namespace with loopback up."""
    if NETNS is not None:
        pytest.skip(NETNS)
    assert IP is not None
    script = f'{IP} link set lo up && exec "$@"'
    return ("unshare", "--user", "--map-root-user", "--net", "sh", "-c", script, "_")


def env_for(root: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": BASE_PATH,
        "HOME": str(root),
        "BOTS_CONFIG_DIR": str(root / "config"),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@pytest.fixture(name="hold_lock")
def _hold_lock() -> Iterator[Callable[[Path], subprocess.Popen[str]]]:
    """Start another process that holds init-db's lock on a data folder until its stdin is
    closed (a POSIX lock is per process); whatever is still held is released at the end."""
    holders: list[subprocess.Popen[str]] = []

    def hold(data: Path) -> subprocess.Popen[str]:
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import sys; from bots_runtime.process.lock import RunLock;"
                    f"lock = RunLock({str(data / initdb.LOCK_FILE)!r}); lock.acquire();"
                    "print('held', flush=True); sys.stdin.read()"
                ),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        return holder

    yield hold
    for holder in holders:
        if holder.stdin is not None and not holder.stdin.closed:
            holder.stdin.close()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_engine_on_an_empty_folder(tmp_path: Path, run_runtime: StartRuntime) -> None:
    """1. `bots-runtime engine` on a data folder that does not exist yet.
    2. It says why it runs init-db first, and init-db creates the whole environment.
    3. The engine then runs on it and exits 0; no first-run marker is left.
    """
    root = tmp_path / "data"
    runtime = run_runtime(["engine"], env_for(root), health=False, prefix=own_network())
    code = runtime.wait(90)
    out = runtime.output(400)
    assert code == 0, out
    first = f"init-db: first run of engine: no bots.ini or settings.py in {root / 'config'}"
    assert first in out
    assert "init-db: done;" in out
    assert (root / "botssys" / "sqlitedb" / "botsdb").is_file()
    assert runtime.find("child exited", code=0), out
    assert not (root / initdb.PENDING_FILE).exists()


def test_off_leaves_the_folder_alone(tmp_path: Path) -> None:
    """With --init-db off (BOTS_RUNTIME_INIT_DB=off) the service stops with the one-line
    configuration error and exit 78, and creates nothing."""
    root = tmp_path / "data"
    done = run_cli(["engine"], env_for(root, BOTS_RUNTIME_INIT_DB="off"))
    assert done.returncode == 78, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Bots configuration directory does not exist" in lines[0]
    assert "init-db" not in done.stdout
    assert not root.exists()


def test_a_configured_folder_is_no_first_run(tmp_path: Path) -> None:
    """A folder with bots.ini but no settings.py is no first run: the service names the
    missing file (exit 78) and init-db does not run."""
    root = tmp_path / "data"
    assert init_db(root)[0] == 0
    (root / "config" / "settings.py").unlink()
    done = run_cli(["engine"], env_for(root))
    assert done.returncode == 78, done.stdout + done.stderr
    assert "settings.py: missing" in done.stderr
    assert "init-db" not in done.stdout
    assert not (root / "config" / "settings.py").exists()


def test_services_starting_together_take_turns(tmp_path: Path) -> None:
    """Two services started together on one empty folder (two containers on one volume):
    both run init-db under its lock, one creates everything, the other finds nothing to do,
    and both then go on to the service (here the job queue, which the fresh bots.ini leaves
    disabled, so both stop with that one line and exit 78 without binding any port)."""
    root = tmp_path / "data"
    argv = [BOTS_PYTHON, "-m", "bots_runtime", "--port", "0", "jobqueueserver"]
    procs = [
        subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env_for(root),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [78, 78], outputs
    texts = sorted(out for out, _ in outputs)
    assert "init-db: done;" in texts[0]
    assert "init-db: nothing to do;" in texts[1]
    for _out, err in outputs:
        assert "[jobqueue] enabled must be True" in err.strip().splitlines()[-1]
    assert (root / "botssys" / "sqlitedb" / "botsdb").is_file()


def test_waits_for_an_init_db_in_progress(
    tmp_path: Path, hold_lock: Callable[[Path], subprocess.Popen[str]], run_runtime: StartRuntime
) -> None:
    """1. A folder whose configuration exists but whose database does not yet, while another
       init-db holds the lock (another container in the middle of its first run).
    2. The engine starts: it does not take the folder as ready but waits for that init-db.
    3. Once the lock is free its own init-db completes the folder (the database file), and
       the engine runs and exits 0.
    """
    root = tmp_path / "data"
    assert init_db(root)[0] == 0
    database = root / "botssys" / "sqlitedb" / "botsdb"
    database.unlink()
    lock_holder = hold_lock(root)
    runtime = run_runtime(["engine"], env_for(root), health=False, prefix=own_network())
    runtime.wait_line(f"init-db: first run of engine: another init-db runs in {root}")
    runtime.wait_line("(another init-db runs)")
    assert not database.exists()
    assert lock_holder.stdin is not None
    lock_holder.stdin.close()
    code = runtime.wait(90)
    out = runtime.output(400)
    assert code == 0, out
    assert f"init-db: created {database}" in out
    assert runtime.find("child exited", code=0), out


def test_failed_first_run_is_tried_again(tmp_path: Path) -> None:
    """1. The first run fails in init-db (here settings.py refuses BOTS_DB_ENGINE, as an
       unreachable database server would fail it): init-db's one line and exit 78, and the
       configuration it wrote stays, with the first-run marker.
    2. The next start, with a working setting, is still a first run: init-db runs again and
       completes the folder (the database), and the marker is gone.
    """
    root = tmp_path / "data"
    failed = run_cli(["jobqueueserver"], env_for(root, BOTS_DB_ENGINE="oracle"))
    assert failed.returncode == 78, failed.stdout + failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith("init-db: ")
    assert "BOTS_DB_ENGINE='oracle'" in lines[0]
    assert (root / "config" / "settings.py").is_file()
    assert (root / initdb.PENDING_FILE).is_file()
    again = run_cli(["jobqueueserver"], env_for(root))
    assert "did not finish" in again.stdout, again.stdout
    assert f"init-db: created {root / 'botssys' / 'sqlitedb' / 'botsdb'}" in again.stdout
    assert not (root / initdb.PENDING_FILE).exists()
    assert "[jobqueue] enabled must be True" in again.stderr
