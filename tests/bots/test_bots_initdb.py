"""init-db creates what is missing, changes nothing the second time, and serialises pods."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import subprocess
import sys
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import environment as botsenv
from bots_runtime.bots import initdb
from bots_runtime.process.lock import RunLock
from tests.bots.kit import BASE_PATH, BOTS_BIN, BOTS_PYTHON, ROOT, have_bots, run_cli
from tests.support import free_port

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.bots,
    pytest.mark.skipif(not have_bots(), reason="Bots EDI 3.3.1 is not installed"),
]


def tree_state(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under `root` (except the init-db lock) with its mtime and content hash."""
    state: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.name == initdb.LOCK_FILE:
            continue
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(root))] = (stat.st_mtime_ns, digest)
    return state


def init(root: Path, lock_wait: float = initdb.LOCK_WAIT) -> tuple[int, str]:
    out = io.StringIO()
    code = initdb.main(
        str(root / "config"), {}, out=out, err=out, lock_wait=lock_wait, executable=BOTS_PYTHON
    )
    return code, out.getvalue()


class TestFresh:
    def test_creates_a_working_environment(self, tmp_path: Path) -> None:
        """A fresh folder gets config, botssys, usersys and the SQLite DB; all validate."""
        code, out = init(tmp_path / "data")
        assert code == 0, out
        root = tmp_path / "data"
        for created in ("config/bots.ini", "config/settings.py", "usersys/__init__.py"):
            assert (root / created).is_file(), out
            assert f"created {root / created.split('/')[0]}" in out
        assert (root / "botssys" / "sqlitedb" / "botsdb").is_file()
        env = botsenv.load(str(root / "config"), {"PATH": BASE_PATH}, python=BOTS_PYTHON)
        assert env.botssys == root / "botssys"
        assert env.webserver_port == 8080
        assert env.dirmonitors == ()
        assert out.strip().splitlines()[-1].startswith("init-db: done;")

    def test_generated_settings_are_bots_safe(self, tmp_path: Path) -> None:
        """settings.py derives BOTSSYS_PATH from its own place; bots.ini's botssys is absolute."""
        init(tmp_path / "d")
        text = (tmp_path / "d" / "config" / "settings.py").read_text()
        assert "os.path.dirname(os.path.dirname(os.path.abspath(__file__)))" in text
        assert "BOTSSYS_PATH = os.path.join(PROJECT_PATH" not in text
        ini = botsenv.read_ini(tmp_path / "d" / "config" / "bots.ini")
        assert ini.get("directories", "botssys") == str(tmp_path / "d" / "botssys")
        assert ini.get("directories", "usersys") == "usersys"

    def test_secret_key_is_not_the_template_one(self, tmp_path: Path) -> None:
        """Each environment gets its own Django SECRET_KEY, not the one shipped with Bots."""
        init(tmp_path / "a")
        init(tmp_path / "b")
        key_a = (tmp_path / "a/config/settings.py").read_text()
        key_b = (tmp_path / "b/config/settings.py").read_text()
        assert "m@-u37qiujmeqfbu" not in key_a
        assert key_a != key_b

    def test_engine_runs_on_it(self, tmp_path: Path) -> None:
        """The real bots-engine runs on the new environment and exits 0."""
        init(tmp_path / "e")
        ini = tmp_path / "e/config/bots.ini"
        text = ini.read_text().replace("port = 28081", f"port = {free_port()}")
        ini.write_text(text)
        done = subprocess.run(
            [str(BOTS_BIN / "bots-engine"), f"-c{tmp_path / 'e/config'}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert 'botssys path: "' + str(tmp_path / "e/botssys") in done.stderr


class TestIdempotent:
    def test_second_run_changes_nothing(self, tmp_path: Path) -> None:
        """A second init-db says "nothing to do" and leaves every file's bytes and mtime."""
        root = tmp_path / "data"
        assert init(root)[0] == 0
        before = tree_state(root)
        code, out = init(root)
        assert code == 0
        assert out.strip() == (
            f"init-db: nothing to do; {root} is already initialised"
            f" (sqlite {root}/botssys/sqlitedb/botsdb)"
        )
        assert tree_state(root) == before

    def test_user_files_kept(self, tmp_path: Path) -> None:
        """An edited bots.ini and a DB with data are never overwritten; only gaps are filled."""
        root = tmp_path / "data"
        init(root)
        ini = root / "config" / "bots.ini"
        ini.write_text(ini.read_text() + "\n# mine\n")
        db = root / "botssys" / "sqlitedb" / "botsdb"
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("INSERT INTO ccodetrigger (ccodeid) VALUES ('mine')")
            conn.commit()
        (root / "botssys" / "logging").rmdir()
        code, out = init(root)
        assert code == 0
        assert out.splitlines()[0] == f"init-db: created {root}/botssys/logging/"
        assert ini.read_text().endswith("# mine\n")
        with closing(sqlite3.connect(db)) as conn:
            assert conn.execute("SELECT COUNT(*) FROM ccodetrigger").fetchone()[0] == 1

    def test_trailing_slash_config(self, tmp_path: Path) -> None:
        """`BOTS_CONFIG_DIR=.../config/` makes the same layout (data folder = its parent)."""
        out = io.StringIO()
        assert initdb.main(f"{tmp_path}/d/config/", {}, out=out, executable=BOTS_PYTHON) == 0
        assert (tmp_path / "d" / "usersys" / "__init__.py").is_file()


class TestConcurrent:
    def test_two_processes_at_once(self, tmp_path: Path) -> None:
        """Two init-db processes started together: both exit 0, one creates, one has nothing."""
        env = {"PATH": BASE_PATH, "BOTS_CONFIG_DIR": str(tmp_path / "shared" / "config")}
        argv = [BOTS_PYTHON, "-m", "bots_runtime", "--port", "0", "init-db"]
        procs = [
            subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        texts = sorted(out for out, _ in outputs)
        assert "init-db: nothing to do" in texts[1]
        assert "init-db: done;" in texts[0]
        assert "nothing to do" not in texts[0]

    def test_lock_timeout_is_75(self, tmp_path: Path) -> None:
        """When another holder keeps the lock past the wait, init-db exits 75 and says why."""
        root = tmp_path / "busy"
        root.mkdir()
        # A POSIX lock is per process, so the holder must be another process.
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import sys; from bots_runtime.process.lock import RunLock;"
                    f"lock = RunLock({str(root / initdb.LOCK_FILE)!r}); lock.acquire();"
                    "print('held', flush=True); sys.stdin.read()"
                ),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            code, out = init(root, lock_wait=0.3)
        finally:
            assert holder.stdin is not None
            assert holder.stdout is not None
            holder.stdin.close()
            holder.wait(10)
            holder.stdout.close()
        assert code == 75
        assert out.splitlines()[-1].endswith("still locked by another init-db after 0.3s")
        assert not (root / "config").exists()

    def test_lock_released_after_run(self, tmp_path: Path) -> None:
        """After init-db the lock is free again (the next pod does not wait)."""
        init(tmp_path / "d")
        lock = RunLock(str(tmp_path / "d" / initdb.LOCK_FILE))
        lock.acquire()
        lock.release()


class TestErrors:
    def test_unwritable_parent_is_78(self, tmp_path: Path) -> None:
        """A data folder that cannot be created: one line naming it, exit 78."""
        blocker = tmp_path / "file"
        blocker.write_text("x")
        done = run_cli(
            ["init-db"], {"PATH": BASE_PATH, "BOTS_CONFIG_DIR": str(blocker / "d" / "config")}
        )
        assert done.returncode == 78
        assert len(done.stderr.strip().splitlines()) == 1
        assert str(blocker / "d") in done.stderr

    def test_bad_db_engine_is_78(self, tmp_path: Path) -> None:
        """An unknown BOTS_DB_ENGINE: one line naming settings.py, exit 78."""
        done = run_cli(
            ["init-db"],
            {
                "PATH": BASE_PATH,
                "BOTS_CONFIG_DIR": str(tmp_path / "d" / "config"),
                "BOTS_DB_ENGINE": "oracle",
            },
        )
        assert done.returncode == 78, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert "settings.py: fails to load: ValueError: BOTS_DB_ENGINE='oracle'" in last
        assert (tmp_path / "d" / "config").is_dir()
