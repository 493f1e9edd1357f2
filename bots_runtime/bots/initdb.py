"""`bots-runtime init-db`: create whatever is missing of a Bots environment, and nothing else.

Runs inside the runtime process (no child, no HTTP), under an exclusive fcntl lock on the
shared volume so pods started together take turns; the second one finds everything in place
and says "nothing to do". Existing files are never rewritten, and a template is only rendered
when its file is about to be written. The layout is `<data>/config` (bots.ini, settings.py),
`<data>/botssys`, `<data>/usersys`, made from the installed Bots' own `install/` templates with
the edits its generation needs (`generation.InitDbRules`): for 3.3.1 an absolute botssys in
bots.ini and a `BOTSSYS_PATH` derived from settings.py's own place, for 4.0 the templates' own
botssys logic; for both an environment-driven `DATABASES` block, host names and proxy from
`BOTS_*` variables (`PROXY_BLOCK`) and a key of its own. The database work (a server's schema,
4.0's pending migrations, the GUI users: `bots`/`botsbots` or the named admin, see `admin`)
runs in Bots' interpreter (`scripts/create_schema.py`), and only when there is some.

`first_run` is the rule by which a Bots service runs init-db before it starts (`--init-db
auto`); such a run leaves `PENDING_FILE` until it succeeds, so a failed one is tried again.

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

from bots_runtime.bots import admin as admins
from bots_runtime.bots import environment as botsenv
from bots_runtime.bots import generation as generations
from bots_runtime.bots.programs import find_program, interpreter
from bots_runtime.core import exit_codes
from bots_runtime.core.childenv import child_env
from bots_runtime.core.errors import SettingError
from bots_runtime.process.lock import LockBusyError, RunLock, held_elsewhere

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from bots_runtime.bots.admin import AdminUser
    from bots_runtime.bots.generation import Generation


LOCK_FILE = ".bots-init-db.lock"
#: Left in the data folder by a service's first run until init-db has succeeded there.
PENDING_FILE = ".bots-init-db.pending"
LOCK_WAIT = 120.0
SCHEMA_TIMEOUT = 300.0
BOTSSYS_FOLDERS = ("sqlitedb", "data", "logging", "infile", "outfile")
DEFAULT_ADMIN = ("bots", "botsbots")  # the GUI login of Bots' own install database
#: The port a server of each kind listens on unless BOTS_DB_PORT says otherwise.
DEFAULT_DB_PORTS = {"postgresql": "5432", "mysql": "3306"}

SCRIPTS = Path(__file__).resolve().parent / "scripts"

_DATABASE_BLOCK = """\
# *********database settings (written by bots-runtime init-db)*************************
# BOTS_DB_ENGINE={default} (default): one file under botssys; one writer at a time only.
# BOTS_DB_ENGINE={servers}: BOTS_DB_HOST, BOTS_DB_PORT, BOTS_DB_NAME,
# BOTS_DB_USER and BOTS_DB_PASSWORD name the server; `bots-runtime init-db` creates the schema.
_BOTS_DB_ENGINES = {engines}
_BOTS_DB_PORTS = {ports}
_BOTS_DB_ENGINE = os.environ.get('BOTS_DB_ENGINE', 'sqlite3').strip().lower()
if _BOTS_DB_ENGINE not in _BOTS_DB_ENGINES:
    raise ValueError('BOTS_DB_ENGINE=%r: expected one of %s' % (
        _BOTS_DB_ENGINE, ', '.join(sorted(_BOTS_DB_ENGINES))))
_BOTS_DB_DJANGO = _BOTS_DB_ENGINES[_BOTS_DB_ENGINE]
if _BOTS_DB_DJANGO == 'django.db.backends.sqlite3':
    DATABASES = {{
        'default': {{
            'ENGINE': 'django.db.backends.sqlite3',
            'NAME': os.path.join({botssys}, 'sqlitedb', 'botsdb'),
            'USER': '',
            'PASSWORD': '',
            'HOST': '',
            'PORT': '',
            'OPTIONS': {sqlite_options},
        }}
    }}
else:
    DATABASES = {{
        'default': {{
            'ENGINE': _BOTS_DB_DJANGO,
            'NAME': os.environ.get('BOTS_DB_NAME', 'botsdb'),
            'USER': os.environ.get('BOTS_DB_USER', 'bots'),
            'PASSWORD': os.environ.get('BOTS_DB_PASSWORD', ''),
            'HOST': os.environ.get('BOTS_DB_HOST', '127.0.0.1'),
            'PORT': os.environ.get('BOTS_DB_PORT', _BOTS_DB_PORTS[_BOTS_DB_DJANGO]),
            'OPTIONS': {{}},
        }}
    }}
"""


#: Host and origin checks behind a TLS-terminating proxy, from BOTS_* variables: the same text
#: in the settings.py init-db writes and in the Kubernetes ConfigMap's (a test holds them
#: equal), apart from `{schemed}`: whether this Django wants the trusted origins with their
#: scheme. init-db writes the generation's answer (`InitDbRules.schemed_origins`); the
#: ConfigMap, which serves either Bots, asks the Bots it runs under. It replaces the
#: templates' `ALLOWED_HOSTS = ['*']` (docs/bots.md, "Host names and a proxy").
PROXY_BLOCK = """\
# *********host names and proxies (written by bots-runtime init-db)*********************
# BOTS_ALLOWED_HOSTS: the host names the web UI answers to, comma-separated (default *).
#   127.0.0.1, localhost and [::1] are always added: bots-runtime checks the UI there.
# BOTS_CSRF_TRUSTED_ORIGINS: where a login form may be sent from when the proxy rewrites the
#   Host header, comma-separated: https://bots.example.com (a bare host name means https).
#   Django 4 and later (Bots 4.0) get it as written; Django 2.2 (Bots 3.3.1) without https://.
# BOTS_PROXY_SSL_HEADER: the header a TLS-terminating proxy sets to https on every request,
#   such as X-Forwarded-Proto (default: none). Set it only behind a proxy that always sets or
#   removes that header, never where clients reach the web UI directly.
# BOTS_USE_X_FORWARDED_HOST: true when the proxy passes the original host in X-Forwarded-Host.
_BOTS_SCHEMED_ORIGINS = {schemed}


def _bots_list(name, default=''):
    return [part.strip() for part in os.environ.get(name, default).split(',') if part.strip()]


def _bots_origin(origin):
    address = origin.split('://', 1)[-1].rstrip('/')
    if _BOTS_SCHEMED_ORIGINS:
        if '://' in origin:
            return origin.rstrip('/')
        return 'https://' + ('*' + address if address.startswith('.') else address)
    return address[1:] if address.startswith('*.') else address


ALLOWED_HOSTS = _bots_list('BOTS_ALLOWED_HOSTS', '*')
if '*' not in ALLOWED_HOSTS:
    ALLOWED_HOSTS += ['127.0.0.1', 'localhost', '[::1]']
CSRF_TRUSTED_ORIGINS = [_bots_origin(item) for item in _bots_list('BOTS_CSRF_TRUSTED_ORIGINS')]
if os.environ.get('BOTS_PROXY_SSL_HEADER', '').strip():
    SECURE_PROXY_SSL_HEADER = (
        'HTTP_' + os.environ['BOTS_PROXY_SSL_HEADER'].strip().upper().replace('-', '_'),
        'https',
    )
_BOTS_FLAGS = {{'1': True, 'true': True, 'yes': True, 'on': True,
               '0': False, 'false': False, 'no': False, 'off': False, '': False}}
_bots_forwarded_host = os.environ.get('BOTS_USE_X_FORWARDED_HOST', '').strip().lower()
if _bots_forwarded_host not in _BOTS_FLAGS:
    raise ValueError('BOTS_USE_X_FORWARDED_HOST=%r: expected true or false'
                     % os.environ['BOTS_USE_X_FORWARDED_HOST'])
USE_X_FORWARDED_HOST = _BOTS_FLAGS[_bots_forwarded_host]
"""


def proxy_block(schemed: str) -> str:
    """`PROXY_BLOCK` with `schemed`: the expression that says if origins keep their scheme."""
    return PROXY_BLOCK.format(schemed=schemed)


class LockTimeoutError(Exception):
    """Another init-db kept the lock longer than `LOCK_WAIT`."""


class TemplateError(Exception):
    """Bots' install template lacks a part init-db edits (a Bots this init-db does not know)."""


def render_ini(template: str, botssys: Path, usersys: str, rules: generations.InitDbRules) -> str:
    """Bots' install bots.ini with the edits this generation needs.

    3.3.1: botssys made absolute (a relative one resolves inside its package) and the example
    `[dirmonitor1]`/`[dirmonitor2]` removed (they watch folders on the Bots author's machine;
    left in, bots-dirmonitor would watch nothing that exists and say nothing). 4.0: as is, its
    relative `botssys = botssys` resolves next to the config directory.
    """
    if not rules.absolute_botssys and not rules.drop_example_dirmonitors:
        return "# Written by bots-runtime init-db: Bots' install/bots.ini, unchanged.\n" + template
    lines = [
        "# Written by bots-runtime init-db from Bots' install/bots.ini: botssys made absolute,\n",
        "# the example [dirmonitorN] sections removed (see the comments under [dirmonitor]).\n",
    ]
    section = ""
    replaced: set[str] = set()
    examples = rules.drop_example_dirmonitors
    for line in template.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            if examples and section.startswith("dirmonitor") and section[len("dirmonitor") :]:
                lines.append(f"# [{section}] (an example from the Bots package) removed\n")
                continue
        elif examples and section.startswith("dirmonitor") and section[len("dirmonitor") :]:
            continue
        elif section == "directories" and "=" in line and not stripped.startswith(("#", ";")):
            key = line.split("=", 1)[0].strip()
            if key == "botssys" and rules.absolute_botssys:
                line = f"botssys = {botssys}\n"  # noqa: PLW2901 - rewriting this line is the point
                replaced.add(key)
            elif key == "usersys" and rules.absolute_botssys:
                line = f"usersys = {usersys}\n"  # noqa: PLW2901
                replaced.add(key)
        lines.append(line)
    if rules.absolute_botssys and replaced != {"botssys", "usersys"}:
        msg = "no [directories] botssys/usersys lines to fix"
        raise TemplateError(msg)
    return "".join(lines)


def _sub_once(pattern: str, replacement: str, text: str) -> str:
    result, count = re.subn(
        pattern, lambda _m: replacement, text, count=1, flags=re.MULTILINE | re.DOTALL
    )
    if count != 1:
        msg = f"no line matching {pattern!r}"
        raise TemplateError(msg)
    return result


def database_block(generation: Generation) -> str:
    """settings.py's DATABASES, chosen by BOTS_DB_ENGINE among what this Bots can use."""
    rules = generation.initdb
    engines = dict(rules.db_engines)
    ports = {
        engine: DEFAULT_DB_PORTS[generations.ENGINE_KINDS[engine]]
        for engine in sorted(set(engines.values()))
        if generations.ENGINE_KINDS[engine] in DEFAULT_DB_PORTS
    }
    servers = "|".join(k for k, v in engines.items() if v != generations.SQLITE)
    return _DATABASE_BLOCK.format(
        default="sqlite3",
        servers=servers,
        engines=_literal(engines),
        ports=_literal(ports),
        botssys=generation.config.settings_botssys,
        sqlite_options=rules.sqlite_options,
    )


def _literal(mapping: Mapping[str, str]) -> str:
    """A dict literal with one entry per line, for a settings.py a person reads."""
    items = "".join(f"    {key!r}: {value!r},\n" for key, value in mapping.items())
    return "{\n" + items + "}"


def render_settings(template: str, secret_key: str, generation: Generation) -> str:
    """Bots' install settings.py with an env-driven DB, hosts, proxy and a key of its own.

    The host and proxy settings are `PROXY_BLOCK`, in this generation's origin format. Where
    the generation needs it (3.3.1), botssys is derived from settings.py's own place.
    """
    text = template
    line = generation.initdb.settings_botssys_line
    if line is not None:
        name = generation.config.settings_botssys
        text = _sub_once(
            rf"^{name} = .*?$",
            "# bots-runtime: botssys is the folder next to this config directory (as in bots.ini)\n"
            + line,
            text,
        )
    text = _sub_once(
        r"^# \*+database settings.*?^DATABASES = \{\n.*?^\}\n", database_block(generation), text
    )
    schemed = repr(generation.initdb.schemed_origins)
    text = _sub_once(r"^ALLOWED_HOSTS = .*?\n", proxy_block(schemed), text)
    return _sub_once(
        r"^SECRET_KEY = .*?$",
        f"SECRET_KEY = os.environ.get('BOTS_SECRET_KEY') or {secret_key!r}",
        text,
    )


class _Report:
    """What init-db changed, printed as it happens; notes are printed and change nothing."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.changes: list[str] = []

    def add(self, what: str) -> None:
        self.did(f"created {what}")

    def did(self, change: str) -> None:
        self.changes.append(change)
        print(f"init-db: {change}", file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(f"init-db: {text}", file=self.out, flush=True)


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


def _copy_new(source: Path, target: Path, report: _Report) -> bool:
    """Copy `source` to a missing `target` (atomically); whether it was copied."""
    if target.exists():
        return False
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    shutil.copyfile(source, temp)
    Path(temp).replace(target)
    report.add(f"{target} (copy of {source})")
    return True


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


@dataclass(frozen=True, slots=True)
class _DatabaseJob:
    """What create_schema.py is to do on one database (see its docstring)."""

    schema: str
    raw_tables: Mapping[str, str]
    default_user: tuple[str, str] | None
    admin: AdminUser | None
    drop_user: str | None

    def to_json(self, env: botsenv.BotsEnv, package: Path) -> str:
        admin = self.admin
        return json.dumps(
            {
                "config_dir": str(env.config_dir),
                "sql_dir": str(package / "sql"),
                "schema": self.schema,
                "raw_mode": env.generation.initdb.raw_sql_mode,
                "raw_tables": dict(self.raw_tables),
                "default_user": list(self.default_user) if self.default_user else None,
                "admin": (
                    {"name": admin.name, "password": admin.password, "email": admin.email}
                    if admin is not None
                    else None
                ),
                "drop_user": self.drop_user,
            }
        )


def _run_database_job(
    env: botsenv.BotsEnv,
    python: str,
    package: Path,
    environ: Mapping[str, str],
    job: _DatabaseJob,
) -> tuple[list[str], list[str]]:
    """Run create_schema.py in Bots' interpreter; (changes, notes), or `SettingError`."""
    database = env.database
    assert database is not None  # noqa: S101 - only called with a database
    child = dict(environ)
    child.setdefault("PGCONNECT_TIMEOUT", "10")  # libpq: an unreachable server fails in 10 s
    # Importing settings.py and usersys must not leave __pycache__ in the user's folders.
    child["PYTHONDONTWRITEBYTECODE"] = "1"
    where = f"{env.settings_path}: DATABASES['default'] ({database.describe()})"
    try:
        done = subprocess.run(
            [python, str(SCRIPTS / "create_schema.py")],
            input=job.to_json(env, package),
            env=child,
            capture_output=True,
            text=True,
            timeout=SCHEMA_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        msg = f"{where}: schema not created within {SCHEMA_TIMEOUT:g}s"
        raise SettingError(msg) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit code {done.returncode}"
        msg = f"{where}: {last}"
        raise SettingError(msg)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return list(result["done"]), list(result["notes"])


def _database(
    env: botsenv.BotsEnv,
    python: str,
    bots: BotsInstall,
    environ: Mapping[str, str],
    admin: AdminUser | None,
    report: _Report,
) -> None:
    """The database: SQLite from the install copy, a server's schema; then the users.

    A server gets its schema, raw-SQL tables and migrations on every run (each step only when
    missing). An existing SQLite database of a Bots with migrations (4.0) gets the ones not
    applied yet, so an image upgrade brings them in; a fresh copy is the install database,
    complete for its own Bots. The Bots interpreter only starts when there is work for it.
    """
    database = env.database
    if database is None:
        return
    rules = env.generation.initdb
    if database.is_sqlite:
        target = Path(database.name)
        _mkdir(target.parent, report)
        fresh = _copy_new(bots.package / "install" / "botsdb", target, report)
        schema = "migrate" if rules.schema == "migrate" and not fresh else "none"
        if schema == "none" and admin is None:
            return
        job = _DatabaseJob(
            schema=schema,
            raw_tables={},
            default_user=None,  # the install database brings its own login
            admin=admin,
            drop_user=DEFAULT_ADMIN[0] if fresh else None,
        )
    else:
        job = _DatabaseJob(
            schema=rules.schema,
            raw_tables=rules.raw_sql.get(database.kind, {}),
            default_user=DEFAULT_ADMIN,
            admin=admin,
            drop_user=None,
        )
    changes, notes = _run_database_job(env, python, bots.package, environ, job)
    for change in changes:
        report.did(f"{change} in {database.describe()}")
    for note in notes:
        report.note(f"{note} in {database.describe()}")


def _initialise(
    config_dir: Path,
    python: str,
    environ: Mapping[str, str],
    admin: AdminUser | None,
    report: _Report,
) -> botsenv.BotsEnv:
    data_dir = config_dir.parent
    bots = find_bots(python, environ)
    generation, warning = generations.for_version(bots.version)
    if warning:
        print(f"init-db: warning: {warning}", file=report.out, flush=True)
    rules = generation.initdb
    install = bots.package / "install"
    _mkdir(config_dir, report)
    if os.access(config_dir, os.W_OK):  # optional for Bots; a read-only ConfigMap may lack it
        _write_new(config_dir / "__init__.py", "", report)
    ini_path = config_dir / "bots.ini"
    settings_path = config_dir / "settings.py"
    # Each template is read and edited only when its file is about to be written.
    source = install / "bots.ini"
    try:
        if not ini_path.exists():
            template = source.read_text(encoding="utf-8")
            text = render_ini(template, data_dir / "botssys", "usersys", rules)
            _write_new(ini_path, text, report)
        source = install / "settings.py"
        if not settings_path.exists():
            template = source.read_text(encoding="utf-8")
            text = render_settings(template, secrets.token_urlsafe(40), generation)
            _write_new(settings_path, text, report)
    except TemplateError as err:
        msg = (
            f"{source}: {err}; init-db cannot write {config_dir}/{source.name} from this"
            f" template ({generation.label} rules); write that file yourself"
        )
        raise SettingError(msg) from None
    ini = botsenv.read_ini(ini_path)
    botssys = botsenv.botssys_folder(ini, ini_path, data_dir, generation.config, must_exist=False)
    _mkdir(botssys, report)
    for folder in BOTSSYS_FOLDERS:
        _mkdir(botssys / folder, report)
    _name, usersys = botsenv.usersys_folder(ini, ini_path, data_dir, generation.config)
    _seed_usersys(bots.package, usersys, report)
    env = botsenv.load(str(config_dir), environ, python=python, require_database=False)
    _database(env, python, bots, environ, admin, report)
    return env


def _count(changes: int) -> str:
    return f"{changes} change" + ("" if changes == 1 else "s")


def first_run(bots_config: str) -> str | None:
    """Why a Bots service must run init-db before it starts, or None: the `--init-db auto` rule.

    Three cases: the config directory holds neither bots.ini nor settings.py (an empty data
    volume); an earlier first run did not finish (its marker is still there, say the database
    server was not up yet); or another init-db runs now, whose work may be half done (it is
    waited for, under the lock). A folder with only one of the two files is not a first run:
    the service's check names the missing one.
    """
    config_dir = botsenv.normalise(bots_config)
    data_dir = config_dir.parent
    if not (config_dir / "bots.ini").exists() and not (config_dir / "settings.py").exists():
        return f"no bots.ini or settings.py in {config_dir}"
    if (data_dir / PENDING_FILE).exists():
        return f"the first init-db in {data_dir} did not finish ({PENDING_FILE} is there)"
    if held_elsewhere(str(data_dir / LOCK_FILE)):
        return f"another init-db runs in {data_dir}"
    return None


def main(
    bots_config: str,
    environ: Mapping[str, str],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    executable: str = sys.executable,
    lock_wait: float = LOCK_WAIT,
    clock: Callable[[], float] = time.monotonic,
    bootstrap: bool = False,
) -> int:
    """Create what is missing; print each change, or "nothing to do"; return the code.

    `bootstrap`: this is a service's first run (`first_run`), which leaves a marker until it
    succeeds, so a failed one is tried again at the next start.
    """
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    bots_environ = child_env(environ)
    lock: RunLock | None = None
    try:
        config_dir = botsenv.normalise(bots_config)
        python = interpreter(find_program("bots-engine", environ, executable))
        admin = admins.from_environ(environ)
        try:
            config_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"{config_dir.parent}: cannot create the Bots data folder: {exc.strerror}"
            raise SettingError(msg) from None
        lock = _take_lock(config_dir.parent / LOCK_FILE, lock_wait, stdout, clock)
        pending = config_dir.parent / PENDING_FILE
        if bootstrap:
            pending.touch()  # until this run succeeds, the next start tries again
        report = _Report(stdout)
        if admin.note:
            report.note(admin.note)
        env = _initialise(config_dir, python, bots_environ, admin.user, report)
        pending.unlink(missing_ok=True)
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
    if report.changes:
        print(
            f"init-db: done; {_count(len(report.changes))} in {env.data_dir} ({database})",
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
