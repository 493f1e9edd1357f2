"""`bots-runtime init-db`: create whatever is missing of a Bots environment, and nothing else.

Runs inside the runtime process (no child, no HTTP), under an exclusive fcntl lock on the
shared volume so pods started together take turns; the second one finds everything in place
and says "nothing to do". Existing files are never rewritten. The layout is the one Bots
3.3.1 handles correctly: `<data>/config` (bots.ini, settings.py), `<data>/botssys`,
`<data>/usersys`, with `botssys` absolute in bots.ini and settings.py deriving its
`BOTSSYS_PATH` from its own location, so both always name the same folder.

Exit codes: 0 done (or nothing to do), 75 the lock was not free within `LOCK_WAIT` seconds,
78 a configuration problem (one line naming the file and key), 127 Bots is not installed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bots_runtime.bots import environment as botsenv
from bots_runtime.bots.programs import find_program, interpreter
from bots_runtime.core import exit_codes
from bots_runtime.core.childenv import child_env
from bots_runtime.core.errors import SettingError
from bots_runtime.process.lock import LockBusyError, RunLock

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


LOCK_FILE = ".bots-init-db.lock"
LOCK_WAIT = 120.0
SCHEMA_TIMEOUT = 300.0
BOTSSYS_FOLDERS = ("sqlitedb", "data", "logging", "infile", "outfile")
DEFAULT_ADMIN = ("bots", "botsbots")  # the GUI login of Bots' own install database
# Tables Bots writes with raw SQL that relies on column defaults Django does not create.
RAW_SQL_TABLES = ("mutex", "persist", "ta")

SCRIPTS = Path(__file__).resolve().parent / "scripts"

_DATABASE_BLOCK = """\
# *********database settings (written by bots-runtime init-db)*************************
# BOTS_DB_ENGINE=sqlite3 (default): one file under botssys; one writer at a time only.
# BOTS_DB_ENGINE=postgresql: BOTS_DB_HOST, BOTS_DB_PORT, BOTS_DB_NAME, BOTS_DB_USER and
# BOTS_DB_PASSWORD name the server; `bots-runtime init-db` creates the schema.
_BOTS_DB_ENGINE = os.environ.get('BOTS_DB_ENGINE', 'sqlite3').strip().lower()
if _BOTS_DB_ENGINE in ('postgresql', 'postgres', 'postgresql_psycopg2'):
    DATABASES = {
        'default': {
            # the only PostgreSQL engine name Bots 3.3.1 accepts
            'ENGINE': 'django.db.backends.postgresql_psycopg2',
            'NAME': os.environ.get('BOTS_DB_NAME', 'botsdb'),
            'USER': os.environ.get('BOTS_DB_USER', 'bots'),
            'PASSWORD': os.environ.get('BOTS_DB_PASSWORD', ''),
            'HOST': os.environ.get('BOTS_DB_HOST', '127.0.0.1'),
            'PORT': os.environ.get('BOTS_DB_PORT', '5432'),
            'OPTIONS': {},
        }
    }
elif _BOTS_DB_ENGINE in ('sqlite3', 'sqlite'):
    DATABASES = {
        'default': {
            'ENGINE': 'django.db.backends.sqlite3',
            'NAME': os.path.join(BOTSSYS_PATH, 'sqlitedb', 'botsdb'),
            'USER': '',
            'PASSWORD': '',
            'HOST': '',
            'PORT': '',
            'OPTIONS': {},
        }
    }
else:
    raise ValueError('BOTS_DB_ENGINE=%r: expected sqlite3 or postgresql' % _BOTS_DB_ENGINE)
"""


class LockTimeoutError(Exception):
    """Another init-db kept the lock longer than `LOCK_WAIT`."""


def render_ini(template: str, botssys: Path, usersys: str) -> str:
    """Bots' install bots.ini with an absolute botssys and its example dirmonitors removed.

    The template's `[dirmonitor1]`/`[dirmonitor2]` watch folders on the Bots author's
    machine; left in, bots-dirmonitor would watch nothing that exists and say nothing.
    """
    lines = [
        "# Written by bots-runtime init-db from Bots' install/bots.ini: botssys made absolute,\n",
        "# the example [dirmonitorN] sections removed (see the comments under [dirmonitor]).\n",
    ]
    section = ""
    replaced: set[str] = set()
    for line in template.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            if section.startswith("dirmonitor") and section[len("dirmonitor") :]:
                lines.append(f"# [{section}] (an example from the Bots package) removed\n")
                continue
        elif section.startswith("dirmonitor") and section[len("dirmonitor") :]:
            continue
        elif section == "directories" and "=" in line and not stripped.startswith(("#", ";")):
            key = line.split("=", 1)[0].strip()
            if key == "botssys":
                line = f"botssys = {botssys}\n"  # noqa: PLW2901 - rewriting this line is the point
                replaced.add(key)
            elif key == "usersys":
                line = f"usersys = {usersys}\n"  # noqa: PLW2901
                replaced.add(key)
        lines.append(line)
    if replaced != {"botssys", "usersys"}:
        msg = "Bots' install/bots.ini has no [directories] botssys/usersys lines to fix"
        raise RuntimeError(msg)
    return "".join(lines)


def _sub_once(pattern: str, replacement: str, text: str) -> str:
    result, count = re.subn(
        pattern, lambda _m: replacement, text, count=1, flags=re.MULTILINE | re.DOTALL
    )
    if count != 1:
        msg = f"Bots' install/settings.py has no line matching {pattern!r}"
        raise RuntimeError(msg)
    return result


def render_settings(template: str, secret_key: str) -> str:
    """Bots' install settings.py with BOTSSYS_PATH next to the config dir and env-driven DB."""
    text = _sub_once(
        r"^BOTSSYS_PATH = .*?$",
        "# bots-runtime: botssys is the folder next to this config directory (as in bots.ini)\n"
        "BOTSSYS_PATH = os.path.join("
        "os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'botssys')",
        template,
    )
    text = _sub_once(r"^# \*+database settings.*?^DATABASES = \{\n.*?^\}\n", _DATABASE_BLOCK, text)
    return _sub_once(
        r"^SECRET_KEY = .*?$",
        f"SECRET_KEY = os.environ.get('BOTS_SECRET_KEY') or {secret_key!r}",
        text,
    )


class _Report:
    """What init-db created, printed as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.created: list[str] = []

    def add(self, what: str) -> None:
        self.created.append(what)
        print(f"init-db: created {what}", file=self.out, flush=True)


def _write_new(path: Path, text: str, report: _Report) -> None:
    """Write `path` only if it is missing, atomically (a reader never sees half a file)."""
    if path.exists():
        return
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    Path(temp).chmod(0o644)
    Path(temp).replace(path)
    report.add(str(path))


def _mkdir(path: Path, report: _Report) -> None:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        report.add(f"{path}/")


def _copy_new(source: Path, target: Path, report: _Report) -> None:
    if target.exists():
        return
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    shutil.copyfile(source, temp)
    Path(temp).replace(target)
    report.add(f"{target} (copy of {source})")


def _seed_usersys(package: Path, target: Path, report: _Report) -> None:
    if target.exists():
        return
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    shutil.copytree(
        package / "usersys",
        staging / "tree",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (staging / "tree").replace(target)
    staging.rmdir()
    report.add(f"{target}/ (seeded from {package / 'usersys'})")


def _take_lock(path: Path, wait: float, out: TextIO, clock: Callable[[], float]) -> RunLock:
    lock = RunLock(str(path))

    def waiting() -> None:
        print(f"init-db: waiting for {path} (another init-db runs)", file=out, flush=True)

    try:
        lock.acquire_within(wait, on_wait=waiting, clock=clock)
    except LockBusyError:
        msg = f"{path}: still locked by another init-db after {wait:g}s"
        raise LockTimeoutError(msg) from None
    return lock


@dataclass(frozen=True, slots=True)
class BotsInstall:
    """The `bots` package an interpreter imports: where its templates are, which version."""

    package: Path
    version: str


def find_bots(python: str, environ: Mapping[str, str]) -> BotsInstall:
    """Ask `python` where its `bots` package is and which version; exit 127 when it has none."""
    done = subprocess.run(
        [python, str(SCRIPTS / "find_bots.py")],
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        msg = f"{python}: cannot import the bots package (install bots-runtime[bots])"
        raise SettingError(msg, exit_codes.NOT_FOUND)
    found = json.loads(done.stdout)
    return BotsInstall(Path(found["package"]), str(found["version"]))


def _postgres_schema(
    env: botsenv.BotsEnv, python: str, package: Path, environ: Mapping[str, str]
) -> list[str]:
    """Create Bots' schema on an empty PostgreSQL database; change nothing on a ready one."""
    child = dict(environ)
    child["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(env.data_dir), environ.get("PYTHONPATH", "")) if p
    )
    child["DJANGO_SETTINGS_MODULE"] = f"{env.config_dir.name}.settings"
    child.setdefault("PGCONNECT_TIMEOUT", "10")  # libpq: an unreachable server fails in 10 s
    argv = [
        python,
        str(SCRIPTS / "create_schema.py"),
        str(package / "sql"),
        *DEFAULT_ADMIN,
        ",".join(RAW_SQL_TABLES),
    ]
    try:
        done = subprocess.run(
            argv, env=child, capture_output=True, text=True, timeout=SCHEMA_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        msg = f"{env.settings_path}: PostgreSQL schema not created within {SCHEMA_TIMEOUT:g}s"
        raise SettingError(msg) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit code {done.returncode}"
        assert env.database is not None  # noqa: S101 - only called for PostgreSQL
        msg = f"{env.settings_path}: DATABASES['default'] ({env.database.describe()}): {last}"
        raise SettingError(msg)
    created: list[str] = json.loads(done.stdout)
    return created


def _initialise(
    config_dir: Path, python: str, environ: Mapping[str, str], report: _Report
) -> botsenv.BotsEnv:
    data_dir = config_dir.parent
    package = find_bots(python, environ).package
    install = package / "install"
    _mkdir(config_dir, report)
    if os.access(config_dir, os.W_OK):  # optional for Bots; a read-only ConfigMap may lack it
        _write_new(config_dir / "__init__.py", "", report)
    ini_template = (install / "bots.ini").read_text(encoding="utf-8")
    _write_new(
        config_dir / "bots.ini", render_ini(ini_template, data_dir / "botssys", "usersys"), report
    )
    settings_template = (install / "settings.py").read_text(encoding="utf-8")
    _write_new(
        config_dir / "settings.py",
        render_settings(settings_template, secrets.token_urlsafe(40)),
        report,
    )
    ini = botsenv.read_ini(config_dir / "bots.ini")
    raw_botssys = ini.get("directories", "botssys", fallback="").strip()
    if raw_botssys and Path(raw_botssys).is_absolute():
        botssys = Path(raw_botssys)
        _mkdir(botssys, report)
        for folder in BOTSSYS_FOLDERS:
            _mkdir(botssys / folder, report)
    usersys = ini.get("directories", "usersys", fallback="usersys").strip()
    if usersys and not Path(usersys).is_absolute() and not usersys.startswith("."):
        _seed_usersys(package, data_dir.joinpath(*usersys.split(".")), report)
    env = botsenv.load(str(config_dir), environ, python=python, require_database=False)
    database = env.database
    if database is not None and database.is_sqlite:
        target = Path(database.name)
        _mkdir(target.parent, report)
        _copy_new(install / "botsdb", target, report)
    elif database is not None and database.is_postgresql:
        for what in _postgres_schema(env, python, package, environ):
            report.add(f"{what} in {database.describe()}")
    return env


def main(
    bots_config: str,
    environ: Mapping[str, str],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    executable: str = sys.executable,
    lock_wait: float = LOCK_WAIT,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Create what is missing; print each thing created, or "nothing to do"; return the code."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    bots_environ = child_env(environ)
    lock: RunLock | None = None
    try:
        config_dir = botsenv.normalise(bots_config)
        python = interpreter(find_program("bots-engine", environ, executable))
        try:
            config_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"{config_dir.parent}: cannot create the Bots data folder: {exc.strerror}"
            raise SettingError(msg) from None
        lock = _take_lock(config_dir.parent / LOCK_FILE, lock_wait, stdout, clock)
        report = _Report(stdout)
        env = _initialise(config_dir, python, bots_environ, report)
    except SettingError as exc:
        print(f"init-db: {exc}", file=stderr, flush=True)
        return exc.code
    except LockTimeoutError as exc:
        print(f"init-db: {exc}", file=stderr, flush=True)
        return exit_codes.TEMPFAIL
    except OSError as exc:
        where = exc.filename or bots_config
        print(f"init-db: {where}: {exc.strerror or exc}", file=stderr, flush=True)
        return exit_codes.CONFIG
    finally:
        if lock is not None:
            lock.release()
    database = env.database.describe() if env.database is not None else "no database"
    if report.created:
        print(
            f"init-db: done; {len(report.created)} created in {env.data_dir} ({database})",
            file=stdout,
            flush=True,
        )
    else:
        print(
            f"init-db: nothing to do; {env.data_dir} is already initialised ({database})",
            file=stdout,
            flush=True,
        )
    return exit_codes.OK
