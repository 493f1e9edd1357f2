"""The Bots environment: one configuration directory, normalised and checked before Bots runs.

Bots fails late and quietly on a bad configuration: 3.3.1 falls back to the package's own
config or usersys for a relative or slash-terminated `-c` and resolves a relative `botssys`
inside the package; both generations silently import the package's usersys when the
configured folder is missing, crash the dirmonitor on a section without `route`, and only
notice a missing SQLite file at the first engine run. Every such problem is found here instead
and reported as one line naming the file and the key (a `SettingError`, exit 78).

What is allowed differs per generation (4.0 resolves a bare `botssys` next to the config,
imports a usersys without `__init__.py`, accepts `django.db.backends.postgresql`): those rules
come from `generation`, chosen by the Bots version the settings.py evaluation reports.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bots_runtime.bots import generation as generations
from bots_runtime.core.errors import SettingError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bots_runtime.bots.generation import Generation

DEFAULT_ENGINE_PORT = 28081
DEFAULT_WEBSERVER_PORT = 8080
DEFAULT_JOBQUEUE_PORT = 28082
SETTINGS_TIMEOUT = 20.0
#: Every driver module any generation's engines need, asked of the Bots interpreter at once.
_DRIVER_MODULES = sorted(
    {m for g in generations.GENERATIONS for rule in g.databases.values() for m in rule.needs}
)

#: Evaluated in the Bots interpreter with the child's environment, so settings.py sees exactly
#: what Bots will see (it may read BOTS_DB_* variables).
READ_SETTINGS = Path(__file__).resolve().parent / "scripts" / "read_settings.py"


@dataclass(frozen=True, slots=True)
class Database:
    """The Django `DATABASES['default']` entry Bots will use (strings, as Django has them).

    `time_zone` is settings.py's TIME_ZONE: on SQLite Bots writes naive local times in it
    ("" when TIME_ZONE is None: the system's zone).
    """

    engine: str
    name: str
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""
    time_zone: str = ""

    @property
    def kind(self) -> str:
        """`sqlite`, `postgresql` or `mysql` (whatever the Django engine name)."""
        return generations.ENGINE_KINDS.get(self.engine, "")

    @property
    def is_sqlite(self) -> bool:
        """SQLite keeps the whole database in one file under botssys."""
        return self.kind == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        """PostgreSQL: the production case for several pods."""
        return self.kind == "postgresql"

    @property
    def is_mysql(self) -> bool:
        """MySQL or MariaDB (the reference deployment's production database)."""
        return self.kind == "mysql"

    def describe(self) -> str:
        """Where the data lives, without the password."""
        if self.is_sqlite:
            return f"sqlite {self.name}"
        kind = self.engine.rsplit(".", 1)[-1]
        return f"{kind} {self.user}@{self.host or 'localhost'}:{self.port or 'default'}/{self.name}"


@dataclass(frozen=True, slots=True)
class DirWatch:
    """One `[dirmonitorN]` section: a folder bots-dirmonitor watches for a route."""

    section: str
    path: str | None
    route: str | None


@dataclass(frozen=True, slots=True)
class BotsEnv:
    """A validated Bots environment: the paths and ports the services and checks need."""

    config_dir: Path
    botssys: Path
    usersys: Path
    usersys_name: str
    engine_port: int
    webserver_port: int
    jobqueue_port: int
    jobqueue_enabled: bool
    dirmonitors: tuple[DirWatch, ...]
    database: Database | None
    webserver_tls: bool = False
    generation: Generation = generations.NEWEST
    bots_version: str = ""
    #: Set when the Bots version is not one the generation table knows.
    version_warning: str | None = None
    #: settings.py's ALLOWED_HOSTS (None: not evaluated, or not a list of names).
    allowed_hosts: tuple[str, ...] | None = None

    @property
    def data_dir(self) -> Path:
        """The folder holding config/, botssys/ and usersys/ (Bots puts it on `sys.path`)."""
        return self.config_dir.parent

    @property
    def ini_path(self) -> Path:
        """`bots.ini`, named in error messages."""
        return self.config_dir / "bots.ini"

    @property
    def settings_path(self) -> Path:
        """`settings.py`, the Django settings Bots imports as `<config>.settings`."""
        return self.config_dir / "settings.py"


def normalise(raw: str, cwd: str | None = None) -> Path:
    """An absolute path with no trailing slash: the only form of `-c` Bots 3.3.1 gets right.

    A trailing slash makes Bots load usersys from its own package; a relative path makes it
    use the package's config. `~` is expanded because a shell would have done it too.
    """
    text = raw.strip()
    if not text:
        msg = "Bots configuration directory is empty (set --bots-config or BOTS_CONFIG_DIR)"
        raise SettingError(msg)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (Path(cwd) if cwd is not None else Path.cwd()) / path
    return Path(os.path.normpath(path))


def read_ini(path: Path) -> configparser.RawConfigParser:
    """Parse bots.ini the way Bots does (RawConfigParser: no `%` interpolation)."""
    parser = configparser.RawConfigParser()
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (configparser.Error, UnicodeDecodeError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        msg = f"{path}: cannot be read: {first}"
        raise SettingError(msg) from None
    return parser


def _port(ini: configparser.RawConfigParser, path: Path, section: str, default: int) -> int:
    if not ini.has_option(section, "port"):
        return default
    raw = ini.get(section, "port").strip()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        msg = f"{path}: [{section}] port = {raw!r} is not a port number (1-65535)"
        raise SettingError(msg)
    return value


def _flag(ini: configparser.RawConfigParser, path: Path, section: str, key: str) -> bool:
    if not ini.has_option(section, key):
        return False
    raw = ini.get(section, key).strip()
    try:
        return ini.getboolean(section, key)
    except ValueError:
        msg = f"{path}: [{section}] {key} = {raw!r} is not a boolean (True or False)"
        raise SettingError(msg) from None


def botssys_folder(
    ini: configparser.RawConfigParser,
    path: Path,
    data_dir: Path,
    rules: generations.ConfigRules,
    *,
    must_exist: bool = True,
) -> Path:
    """bots.ini's botssys resolved as this Bots resolves it; `SettingError` where it cannot."""
    if ini.has_option("directories", "botssys"):
        raw = ini.get("directories", "botssys").strip()
    elif rules.botssys_default is not None:
        raw = rules.botssys_default
    else:
        msg = (
            f"{path}: [directories] botssys is missing; set an absolute path (Bots would use"
            " a folder inside its own package)"
        )
        raise SettingError(msg)
    if Path(raw).is_absolute():
        botssys = Path(os.path.normpath(raw))
    elif rules.relative_botssys and raw and os.sep not in raw and raw not in {".", ".."}:
        botssys = data_dir / raw  # Bots and its settings.py both join it to the data folder
    elif rules.relative_botssys:
        msg = (
            f"{path}: [directories] botssys = {raw!r} must be a folder name or an absolute path"
            " (Bots resolves a relative path next to the config directory, its settings.py"
            " against the working directory)"
        )
        raise SettingError(msg)
    else:
        msg = (
            f"{path}: [directories] botssys = {raw!r} must be an absolute path (Bots resolves"
            " a relative one inside its own package)"
        )
        raise SettingError(msg)
    if must_exist and not botssys.is_dir():
        msg = (
            f"{path}: [directories] botssys = {raw}: directory {botssys} does not exist"
            " (bots-runtime init-db creates it)"
        )
        raise SettingError(msg)
    return botssys


def usersys_folder(
    ini: configparser.RawConfigParser, path: Path, data_dir: Path, rules: generations.ConfigRules
) -> tuple[str, Path]:
    """bots.ini's usersys: its setting and the folder Bots imports; no check of the folder."""
    raw = ini.get("directories", "usersys", fallback="usersys").strip() or "usersys"
    if Path(raw).is_absolute() and rules.absolute_usersys:
        folder = Path(os.path.normpath(raw))
    elif not raw or Path(raw).is_absolute() or raw.startswith("."):
        msg = (
            f"{path}: [directories] usersys = {raw!r} must be an import name such as usersys,"
            f" a folder next to the configuration directory in {data_dir}"
        )
        raise SettingError(msg)
    else:
        folder = data_dir.joinpath(*raw.replace(os.sep, ".").split("."))
    return raw, folder


def _usersys(
    ini: configparser.RawConfigParser, path: Path, data_dir: Path, rules: generations.ConfigRules
) -> tuple[str, Path]:
    raw, folder = usersys_folder(ini, path, data_dir, rules)
    if rules.usersys_needs_init and not (folder / "__init__.py").is_file():
        msg = (
            f"{path}: [directories] usersys = {raw}: {folder}/__init__.py not found (Bots would"
            " silently use the usersys inside its package; bots-runtime init-db seeds one)"
        )
        raise SettingError(msg)
    if not folder.is_dir():
        msg = (
            f"{path}: [directories] usersys = {raw}: folder {folder} not found (Bots would"
            " silently use the usersys inside its package; bots-runtime init-db seeds one)"
        )
        raise SettingError(msg)
    return raw, folder


def _webserver_tls(ini: configparser.RawConfigParser, path: Path) -> bool:
    """Bots serves https when both `ssl_certificate` and `ssl_private_key` are set."""
    files = [
        ini.get("webserver", k, fallback="").strip() for k in ("ssl_certificate", "ssl_private_key")
    ]
    if not all(files):
        return False
    for key, name in zip(("ssl_certificate", "ssl_private_key"), files, strict=True):
        if not Path(name).is_file():
            msg = f"{path}: [webserver] {key} = {name}: file not found"
            raise SettingError(msg)
    return True


def _dirmonitors(ini: configparser.RawConfigParser) -> tuple[DirWatch, ...]:
    # Bots watches every section named "dirmonitor" plus a non-empty suffix.
    return tuple(
        DirWatch(
            section=name,
            path=ini.get(name, "path") if ini.has_option(name, "path") else None,
            route=ini.get(name, "route") if ini.has_option(name, "route") else None,
        )
        for name in ini.sections()
        if name.startswith("dirmonitor") and name[len("dirmonitor") :]
    )


def read_settings(settings: Path, python: str, environ: Mapping[str, str]) -> dict[str, object]:
    """Evaluate settings.py in the Bots interpreter: the Bots version, botssys, the database.

    The same run says which database drivers that interpreter could import.
    """
    try:
        done = subprocess.run(
            [python, str(READ_SETTINGS), str(settings), ",".join(_DRIVER_MODULES)],
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=SETTINGS_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        msg = f"{settings}: cannot be evaluated with {python}: {err}"
        raise SettingError(msg) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        msg = f"{settings}: fails to load: {lines[-1].strip() if lines else done.returncode}"
        raise SettingError(msg)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _database(
    settings: Path,
    values: Mapping[str, object],
    botssys: Path,
    generation: Generation,
    python: str,
    *,
    require_file: bool,
) -> Database:
    raw = values.get("db")
    db = raw if isinstance(raw, dict) else {}
    database = Database(
        engine=str(db.get("ENGINE", "")),
        name=str(db.get("NAME", "")),
        host=str(db.get("HOST", "")),
        port=str(db.get("PORT", "")),
        user=str(db.get("USER", "")),
        password=str(db.get("PASSWORD", "")),
        time_zone=str(values.get("time_zone") or ""),
    )
    key = "DATABASES['default']"
    rule = generation.database(database.engine)
    if rule is None:
        msg = (
            f"{settings}: {key}['ENGINE'] = {database.engine!r} is not one {generation.label}"
            f" can use ({', '.join(generation.databases)})"
        )
        raise SettingError(msg)
    found = values.get("drivers")
    available = found if isinstance(found, dict) else {}
    missing = [module for module in rule.needs if available.get(module) is False]
    if missing:
        names = ", ".join(f"{m} ({generations.DRIVER_PACKAGES.get(m, m)})" for m in missing)
        msg = (
            f"{settings}: {key}['ENGINE'] = {database.engine}: Bots connects with {names},"
            f" which {python} cannot import"
        )
        raise SettingError(msg)
    name = generation.config.settings_botssys
    raw_paths = values.get("botssys")
    paths = raw_paths if isinstance(raw_paths, dict) else {}
    botssys_path = paths.get(name)
    if isinstance(botssys_path, str) and os.path.realpath(botssys_path) != os.path.realpath(
        botssys
    ):
        msg = (
            f"{settings}: {name} = {botssys_path} differs from bots.ini [directories]"
            f" botssys = {botssys}; both must name the same folder"
        )
        raise SettingError(msg)
    if database.is_sqlite:
        if not Path(database.name).is_absolute():
            msg = f"{settings}: {key}['NAME'] = {database.name!r} must be an absolute path"
            raise SettingError(msg)
        if require_file and not Path(database.name).is_file():
            msg = (
                f"{settings}: {key}['NAME'] = {database.name}: SQLite database file not found"
                " (bots-runtime init-db creates it)"
            )
            raise SettingError(msg)
    elif not database.name:
        msg = f"{settings}: {key}['NAME'] is empty; name the database"
        raise SettingError(msg)
    return database


def load(
    raw_config_dir: str,
    environ: Mapping[str, str],
    *,
    python: str | None = None,
    require_database: bool = True,
    cwd: str | None = None,
    generation: Generation | None = None,
) -> BotsEnv:
    """Normalise and validate a Bots configuration directory; raise `SettingError` on a problem.

    `python` is the interpreter that runs the Bots programs; when given, settings.py is
    evaluated with it and `environ`: that tells the Bots version (and so the rules) and the
    database. Without it the rules are `generation`'s, or the newest. `require_database=False`
    lets init-db validate a tree whose SQLite file it is about to create.
    """
    config_dir = normalise(raw_config_dir, cwd)
    if not config_dir.is_dir():
        msg = (
            f"{config_dir}: Bots configuration directory does not exist (set --bots-config or"
            " BOTS_CONFIG_DIR; bots-runtime init-db creates it)"
        )
        raise SettingError(msg)
    ini_path = config_dir / "bots.ini"
    settings_path = config_dir / "settings.py"
    for needed in (ini_path, settings_path):
        if not needed.is_file():
            msg = f"{needed}: missing (bots-runtime init-db creates it)"
            raise SettingError(msg)
    ini = read_ini(ini_path)
    values: dict[str, object] | None = None
    version = ""
    warning = None
    if python is not None:
        values = read_settings(settings_path, python, environ)
        version = str(values.get("bots_version") or "")
        generation, warning = generations.for_version(version)
    elif generation is None:
        generation = generations.NEWEST
    rules = generation.config
    botssys = botssys_folder(ini, ini_path, config_dir.parent, rules)
    usersys_name, usersys = _usersys(ini, ini_path, config_dir.parent, rules)
    database = None
    hosts = None
    if values is not None and python is not None:
        database = _database(
            settings_path, values, botssys, generation, python, require_file=require_database
        )
        raw_hosts = values.get("allowed_hosts")
        if isinstance(raw_hosts, list):
            hosts = tuple(str(host) for host in raw_hosts)
    return BotsEnv(
        config_dir=config_dir,
        botssys=botssys,
        usersys=usersys,
        usersys_name=usersys_name,
        engine_port=_port(ini, ini_path, "settings", DEFAULT_ENGINE_PORT),
        webserver_port=_port(ini, ini_path, "webserver", DEFAULT_WEBSERVER_PORT),
        jobqueue_port=_port(ini, ini_path, "jobqueue", DEFAULT_JOBQUEUE_PORT),
        jobqueue_enabled=_flag(ini, ini_path, "jobqueue", "enabled"),
        dirmonitors=_dirmonitors(ini),
        database=database,
        webserver_tls=_webserver_tls(ini, ini_path),
        generation=generation,
        bots_version=version,
        version_warning=warning,
        allowed_hosts=hosts,
    )


def require_jobqueue(env: BotsEnv, service: str) -> None:
    """bots-jobqueueserver and bots-dirmonitor exit 1 at once unless the jobqueue is enabled."""
    if not env.jobqueue_enabled:
        msg = (
            f"{env.ini_path}: [jobqueue] enabled must be True for bots-{service}"
            " (Bots exits 1 otherwise)"
        )
        raise SettingError(msg)


def require_dirmonitors(env: BotsEnv) -> tuple[tuple[str, str], ...]:
    """Each watched section has an absolute `path` and a `route`; return (section, path) pairs.

    No section at all is refused where Bots would watch nothing (3.3.1 logs "Nothing to
    watch!" and exits); Bots 4.0 also watches the routes flagged `dirmonitor` in its database.
    """
    if not env.dirmonitors and not env.generation.config.dirmonitor_db_routes:
        msg = (
            f"{env.ini_path}: no [dirmonitorN] section with path and route"
            " (bots-dirmonitor logs 'Nothing to watch!' and exits)"
        )
        raise SettingError(msg)
    watched: list[tuple[str, str]] = []
    for watch in env.dirmonitors:
        for key, value in (("path", watch.path), ("route", watch.route)):
            if value is None:
                msg = (
                    f"{env.ini_path}: [{watch.section}] has no {key} key (bots-dirmonitor needs"
                    " path and route; route may be empty)"
                )
                raise SettingError(msg)
        path = (watch.path or "").strip()
        if not Path(path).is_absolute():
            msg = f"{env.ini_path}: [{watch.section}] path = {path!r} must be an absolute path"
            raise SettingError(msg)
        watched.append((watch.section, path))
    return tuple(watched)
