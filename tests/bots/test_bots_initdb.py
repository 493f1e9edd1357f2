"""init-db creates what is missing, changes nothing the second time, and serialises pods."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import environment as botsenv
from bots_runtime.bots import initdb
from bots_runtime.process.lock import RunLock
from tests.bots.kit import (
    BASE_PATH,
    BOTS_BIN,
    BOTS_PYTHON,
    ROOT,
    can_log_in,
    generation,
    have_bots,
    run_cli,
)
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


def init(
    root: Path, lock_wait: float = initdb.LOCK_WAIT, env: dict[str, str] | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    code = initdb.main(
        str(root / "config"),
        env or {},
        out=out,
        err=out,
        lock_wait=lock_wait,
        executable=BOTS_PYTHON,
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

    def test_generated_files_follow_the_generation(self, tmp_path: Path) -> None:
        """settings.py, as the Bots interpreter evaluates it, puts botssys next to the config
        (3.3.1: a BOTSSYS_PATH derived from its own place; 4.0: the template's own BOTSSYS
        logic from bots.ini); bots.ini's botssys is absolute for 3.3.1, the template's for 4.0."""
        root = tmp_path / "d"
        init(root)
        rules = generation()
        values = botsenv.read_settings(root / "config" / "settings.py", BOTS_PYTHON, {})
        assert values["botssys"][rules.config.settings_botssys] == str(root / "botssys")  # type: ignore[index]
        ini = botsenv.read_ini(root / "config" / "bots.ini")
        template = botsenv.read_ini(initdb.find_bots(BOTS_PYTHON, {}).package / "install/bots.ini")
        expected = (
            str(root / "botssys")
            if rules.initdb.absolute_botssys
            else template.get("directories", "botssys")
        )
        assert ini.get("directories", "botssys") == expected
        assert ini.get("directories", "usersys") == "usersys"

    def test_settings_keep_the_template(self, tmp_path: Path) -> None:
        """Every line of Bots' install/settings.py is kept, except the DATABASES block (with
        its heading), the SECRET_KEY line, the ALLOWED_HOSTS line (init-db's host and proxy
        block takes its place) and (3.3.1 only) the BOTSSYS_PATH line."""
        root = tmp_path / "d"
        init(root)
        written = (root / "config" / "settings.py").read_text().splitlines()
        template = (initdb.find_bots(BOTS_PYTHON, {}).package / "install/settings.py").read_text()
        start = template.rindex("\n", 0, template.index("database settings")) + 1
        end = template.index("\n}\n", template.index("DATABASES = {", start))
        kept = template[:start] + template[end + 3 :]
        name = generation().config.settings_botssys
        replaced = ("SECRET_KEY =", "ALLOWED_HOSTS =") + (
            (f"{name} =",) if generation().initdb.settings_botssys_line else ()
        )
        missing = [
            line
            for line in kept.splitlines()
            if line.strip() and not line.startswith(replaced) and line not in written
        ]
        assert missing == [], missing
        assert "m@-u37qiujmeqfbu" not in "\n".join(written)
        block = initdb.proxy_block(repr(generation().initdb.schemed_origins))
        assert block in "\n".join(written) + "\n"

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
        assert re.search(
            rf'botssys path\s*: "?{re.escape(str(tmp_path / "e/botssys"))}', done.stderr
        )


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


def odd_install(tmp_path: Path) -> dict[str, str]:
    """The Bots under test, but with an install/settings.py init-db cannot edit (no DATABASES
    block), on PYTHONPATH: as a Bots whose template changed would look to init-db."""
    real = initdb.find_bots(BOTS_PYTHON, {}).package
    fake = tmp_path / "odd" / "bots"
    (fake / "install").mkdir(parents=True)
    init_py = real / "__init__.py"
    (fake / "__init__.py").write_text(
        f"__path__ = [__path__[0], {str(real)!r}]\n"
        f"exec(compile(open({str(init_py)!r}).read(), {str(init_py)!r}, 'exec'))\n"
    )
    for name in ("bots.ini", "botsdb"):
        shutil.copyfile(real / "install" / name, fake / "install" / name)
    settings = (real / "install" / "settings.py").read_text()
    (fake / "install" / "settings.py").write_text(settings.replace("DATABASES = {", "DB = {"))
    (fake / "usersys").symlink_to(real / "usersys")
    return {"PATH": BASE_PATH, "PYTHONPATH": f"{fake.parent}:{ROOT}"}


class TestTemplates:
    def test_template_it_cannot_edit_is_one_line(self, tmp_path: Path) -> None:
        """A fresh environment from a template without the part init-db edits: exit 78, one
        line naming the template; no settings.py is written."""
        env = odd_install(tmp_path)
        done = run_cli(["init-db"], {**env, "BOTS_CONFIG_DIR": str(tmp_path / "d" / "config")})
        assert done.returncode == 78, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "install/settings.py: no line matching" in lines[0]
        assert not (tmp_path / "d" / "config" / "settings.py").exists()

    def test_existing_settings_never_render_the_template(self, tmp_path: Path) -> None:
        """With bots.ini and settings.py in place, init-db never reads the templates: the
        same odd install says "nothing to do" (4.0's template once made this exit 70)."""
        root = tmp_path / "d"
        assert init(root)[0] == 0
        before = tree_state(root)
        env = odd_install(tmp_path)
        done = run_cli(["init-db"], {**env, "BOTS_CONFIG_DIR": str(root / "config")})
        assert done.returncode == 0, done.stderr
        assert "init-db: nothing to do" in done.stdout
        assert tree_state(root) == before


def secret(folder: Path, **keys: str) -> dict[str, str]:
    """A mounted Secret: one file per key, as the kubelet writes them; the _FILE variables."""
    folder.mkdir(parents=True)
    env = {}
    for key, value in keys.items():
        (folder / key).write_text(value, encoding="utf-8")
        env[f"BOTS_ADMIN_{key.upper()}_FILE"] = str(folder / key)
    return env


class TestAdminUser:
    def test_created_from_secret_files_on_a_fresh_folder(self, tmp_path: Path) -> None:
        """Admin user and password from files (the password with the newline a Secret made
        with --from-file carries): init-db creates that superuser and removes the install
        database's well-known bots/botsbots login from the copy it has just made."""
        env = secret(tmp_path / "secret", user="admin", password="Adm1n-pw\n")
        root = tmp_path / "d"
        code, out = init(root, env=env)
        assert code == 0, out
        database = f"sqlite {root}/botssys/sqlitedb/botsdb"
        assert f"init-db: created GUI superuser admin (the admin user) in {database}" in out
        assert (
            f"init-db: removed the install database's login bots (an admin is named) in {database}"
            in out
        )
        assert can_log_in(root / "config", [("admin", "Adm1n-pw"), ("bots", "botsbots")]) == [
            True,
            False,
        ]

    def test_an_existing_admin_is_never_changed(self, tmp_path: Path) -> None:
        """A later init-db with another password (the Secret changed, or the admin changed
        the password in the GUI) leaves the user as it is, says so, and changes nothing."""
        root = tmp_path / "d"
        assert (
            init(root, env={"BOTS_ADMIN_USER": "admin", "BOTS_ADMIN_PASSWORD": "first-pw"})[0] == 0
        )
        before = tree_state(root)
        code, out = init(root, env={"BOTS_ADMIN_USER": "admin", "BOTS_ADMIN_PASSWORD": "second"})
        assert code == 0, out
        assert "admin user admin exists: left as it is (init-db never changes an existing" in out
        assert out.strip().splitlines()[-1].startswith("init-db: nothing to do;")
        assert tree_state(root) == before
        assert can_log_in(root / "config", [("admin", "first-pw"), ("admin", "second")]) == [
            True,
            False,
        ]

    def test_added_to_an_existing_database(self, tmp_path: Path) -> None:
        """An admin named later, on a database already in use: created; the database's own
        users (bots/botsbots here) are left as they are, since init-db did not just make it."""
        root = tmp_path / "d"
        assert init(root)[0] == 0
        code, out = init(root, env={"BOTS_ADMIN_USER": "ops", "BOTS_ADMIN_PASSWORD": "ops-pw-1"})
        assert code == 0, out
        assert "created GUI superuser ops (the admin user)" in out
        assert "removed" not in out
        assert can_log_in(root / "config", [("ops", "ops-pw-1"), ("bots", "botsbots")]) == [
            True,
            True,
        ]

    def test_an_absent_secret_means_no_admin(self, tmp_path: Path) -> None:
        """_FILE variables that name no file (an optional Secret that does not exist): no
        admin user, one line that says why, and the install database's login stays."""
        folder = tmp_path / "absent"
        env = {
            "BOTS_ADMIN_USER_FILE": str(folder / "username"),
            "BOTS_ADMIN_PASSWORD_FILE": str(folder / "password"),
        }
        root = tmp_path / "d"
        code, out = init(root, env=env)
        assert code == 0, out
        assert (
            f"init-db: no admin user: BOTS_ADMIN_USER_FILE={folder / 'username'} does not exist"
            in out
        )
        assert can_log_in(root / "config", [("bots", "botsbots")]) == [True]

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            ({"BOTS_ADMIN_USER": "admin"}, "BOTS_ADMIN_USER is set but BOTS_ADMIN_PASSWORD"),
            ({"BOTS_ADMIN_PASSWORD": "pw"}, "BOTS_ADMIN_PASSWORD is set but BOTS_ADMIN_USER"),
            (
                {"BOTS_ADMIN_USER": "a", "BOTS_ADMIN_USER_FILE": "/x", "BOTS_ADMIN_PASSWORD": "p"},
                "BOTS_ADMIN_USER and BOTS_ADMIN_USER_FILE are both set",
            ),
            (
                {"BOTS_ADMIN_USER": "no spaces", "BOTS_ADMIN_PASSWORD": "p"},
                "BOTS_ADMIN_USER: 'no spaces' is not a user name Django accepts",
            ),
        ],
        ids=["no-password", "no-user", "both-forms", "bad-name"],
    )
    def test_bad_settings_are_one_line(
        self, tmp_path: Path, env: dict[str, str], expected: str
    ) -> None:
        """A half or wrong admin setting: exit 78, one line naming the variable, nothing made."""
        done = run_cli(
            ["init-db"],
            {"PATH": BASE_PATH, "BOTS_CONFIG_DIR": str(tmp_path / "d" / "config"), **env},
        )
        assert done.returncode == 78, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert expected in lines[0]
        assert "pw" not in lines[0].replace("BOTS_ADMIN_PASSWORD", "")
        assert not (tmp_path / "d").exists()


_MIGRATIONS = """
import json, sys
from bots import botsinit
botsinit.generalinit(sys.argv[1])
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
if len(sys.argv) > 2:
    call_command("migrate", "bots", sys.argv[2], interactive=False, verbosity=0)
executor = MigrationExecutor(connection)
print(json.dumps([str(m) for m, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())]))
"""


def pending_migrations(config: Path, back_to: str | None = None) -> list[str]:
    """The migrations Django would apply to this database; with `back_to`, Django's own
    `migrate bots <back_to>` first unapplies the later ones (a database of an older Bots)."""
    done = subprocess.run(
        [BOTS_PYTHON, "-c", _MIGRATIONS, str(config), *([back_to] if back_to else [])],
        env={"PATH": BASE_PATH, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pending: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return pending


class TestMigrations:
    def test_an_older_database_is_migrated(self, tmp_path: Path) -> None:
        """1. A SQLite database of an older Bots: Django's `migrate bots 0001_initial` takes
           the later migrations back (the routes lose their `dirmonitor` column).
        2. init-db applies the pending migrations (what an image upgrade brings) and says so.
        3. Nothing is pending afterwards; the next init-db has nothing to do.
        (Bots 3.3.1 ships no migrations: its SQLite schema is the install database's.)
        """
        if generation().initdb.schema != "migrate":
            pytest.skip(f"{generation().label} ships no migrations")
        root = tmp_path / "d"
        assert init(root)[0] == 0
        config = root / "config"
        assert pending_migrations(config) == []
        back = pending_migrations(config, "0001_initial")
        assert "bots.0002_routes_add_dirmonitor" in back
        code, out = init(root)
        assert code == 0, out
        assert f"init-db: applied {len(back)} pending migrations" in out
        assert pending_migrations(config) == []
        db = root / "botssys" / "sqlitedb" / "botsdb"
        with closing(sqlite3.connect(db)) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(routes)")}
        assert "dirmonitor" in columns
        assert init(root)[1].strip().startswith("init-db: nothing to do;")
