"""Every rule that differs between Bots generations, as data: the one place they are looked up.

Bots 3.3.1 (PyPI, Django 2.2) and Bots 4.0 (the `bots-ediint` tree, Django 5.2) behave
differently under the same signals and accept different configurations; each difference was
measured (docs/bots.md has the tables, `../shared/notes/` the raw observations). The runtime
learns the version once, from the interpreter that evaluates settings.py, and takes one
`Generation` from `for_version`; nothing else in the package asks which Bots it runs. A version
this table does not know gets the newest rules and one warning, never a refusal: a Bots 5 is
more likely to behave like 4.0 than not to start at all.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bots_runtime.core.spec import RestartPolicy, RestartSpec, StopPlan, StopStep, StopTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

SQLITE = "django.db.backends.sqlite3"
POSTGRESQL = "django.db.backends.postgresql"
POSTGRESQL_PSYCOPG2 = "django.db.backends.postgresql_psycopg2"
MYSQL = "django.db.backends.mysql"

#: The kind of server behind each Django engine name (the same in every generation).
ENGINE_KINDS: Mapping[str, str] = {
    SQLITE: "sqlite",
    POSTGRESQL: "postgresql",
    POSTGRESQL_PSYCOPG2: "postgresql",
    MYSQL: "mysql",
}
#: Drivers the runtime's own readiness check can talk to each kind of server with, in order.
PROBE_DRIVERS: Mapping[str, tuple[str, ...]] = {
    "sqlite": ("sqlite3",),
    "postgresql": ("psycopg", "psycopg2"),
    "mysql": ("MySQLdb",),
}
#: What each driver module is called on PyPI, for error messages.
DRIVER_PACKAGES: Mapping[str, str] = {
    "psycopg": "psycopg 3",
    "psycopg2": "psycopg2",
    "MySQLdb": "mysqlclient",
    "sqlite3": "sqlite3",
}


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """What a Bots service does by default, whatever its configuration.

    `stopped_code` is the exit code the program ends with after its own stop plan (measured),
    before `success_codes` turn it into the runtime's 0.
    """

    stop: StopPlan
    restart: RestartSpec
    exit_meanings: Mapping[int, str] = field(default_factory=dict)
    success_codes: frozenset[int] = frozenset()
    stopped_code: int = 0


@dataclass(frozen=True, slots=True)
class ConfigRules:
    """What a Bots configuration may look like and how Bots resolves it."""

    #: bots.ini's botssys when the key is missing; None: Bots would use a folder in its package.
    botssys_default: str | None
    #: A bare folder name as botssys is resolved against the data folder (else: refused).
    relative_botssys: bool
    #: usersys must hold an `__init__.py` (else Bots silently imports its own usersys).
    usersys_needs_init: bool
    #: usersys may be an absolute path instead of an import name.
    absolute_usersys: bool
    #: settings.py's name for the botssys folder, compared with bots.ini's.
    settings_botssys: str
    #: Routes flagged `dirmonitor=True` in the database are watched: no section is needed.
    dirmonitor_db_routes: bool
    #: bots-dirmonitor asks the job queue `isup` at start and exits 1 when it does not answer.
    dirmonitor_needs_jobqueue: bool
    #: The job queue really starts the engines it queues (3.3.1's never does).
    jobqueue_runs_jobs: bool


@dataclass(frozen=True, slots=True)
class DatabaseRule:
    """One Django engine name Bots accepts, and the modules Bots' own code imports for it."""

    engine: str
    needs: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """`sqlite`, `postgresql` or `mysql`."""
        return ENGINE_KINDS[self.engine]


@dataclass(frozen=True, slots=True)
class InitDbRules:
    """How init-db turns Bots' install templates into an environment, and makes the schema."""

    #: bots.ini gets an absolute botssys (3.3.1 resolves a relative one inside its package).
    absolute_botssys: bool
    #: The template's example [dirmonitorN] sections are removed (they watch the author's disk).
    drop_example_dirmonitors: bool
    #: Replace settings.py's botssys line with one derived from its own place (3.3.1's
    #: template puts it inside the package); None keeps the template's own logic.
    settings_botssys_line: str | None
    #: `BOTS_DB_ENGINE` values the written settings.py understands, and the engine they select.
    db_engines: Mapping[str, str]
    #: The OPTIONS literal the SQLite entry keeps (the template's own choices).
    sqlite_options: str
    #: `syncdb`: Django creates tables from the models (no migrations); `migrate`: real ones.
    schema: str
    #: Tables Bots writes with raw SQL, per server kind: table -> file in Bots' `sql/` folder.
    raw_sql: Mapping[str, Mapping[str, str]]
    #: `replace`: Django made the tables without Bots' defaults, swap them while empty;
    #: `create`: Django leaves them out (`managed = False`), create them when absent.
    raw_sql_mode: str
    #: settings.py's CSRF_TRUSTED_ORIGINS carry the scheme (`https://name`: Django 4 and
    #: later); False: bare host names (Django 2.2, which ignores an entry with a scheme).
    schemed_origins: bool


@dataclass(frozen=True, slots=True)
class Generation:
    """All rules of one Bots generation."""

    name: str
    label: str
    major: int
    services: Mapping[str, ServiceRules]
    config: ConfigRules
    databases: Mapping[str, DatabaseRule]
    initdb: InitDbRules
    #: One SIGINT ends the engine's whole run (4.0); in 3.3.1 it only aborts the current step.
    sigint_ends_engine_run: bool
    #: Start the services in the data folder: 4.0 resolves relative paths (channel paths,
    #: botssys) against it, and only its engine changes there by itself, not its dirmonitor.
    run_in_data_folder: bool
    #: `GET /` reads the database (4.0: a broken database makes it 500; 3.3.1 answers 200).
    root_page_reads_database: bool
    #: The GUI's "run" link (the tests drive it; the runtime never calls it).
    gui_run_path: str
    #: The index Bots' plugin reader wants in a plugin zip: `botsindex.py` (3.3.1 reads only
    #: that) or `botsindex.json` (4.0 calls the .py one deprecated).
    plugin_index: str

    def database(self, engine: str) -> DatabaseRule | None:
        """The rule for a Django engine name, None when this Bots cannot use it."""
        return self.databases.get(engine)


_SERVER_RESTART = RestartSpec(policy=RestartPolicy.ON_FAILURE)
# Every Bots plan's abort (a second stop signal) is SIGINT: Bots' only clean stop, in both.

#: SIGINT is the webserver's only clean stop. The webserver alone gets it; engines it started
#: from the GUI are signalled 5 s before the deadline (in their group while the webserver still
#: waits for them, as Bots 4.0's does; as leftovers once it has exited, as 3.3.1's does).
_WEBSERVER = ServiceRules(
    stop=StopPlan(
        steps=(
            StopStep(0.0, signal.SIGINT, target=StopTarget.CHILD),
            StopStep(5.0, signal.SIGINT, before_deadline=True, target=StopTarget.REST),
        ),
        timeout=20.0,
        drain_delay=5.0,
        to_group=False,
        leftover_signal=signal.SIGINT,
        abort_signal=signal.SIGINT,
    ),
    restart=_SERVER_RESTART,
)

_ENGINE_MEANINGS = {
    0: "ok",
    1: "system or configuration error",
    2: "run finished with errors",
    3: "lock port busy (another engine on this host)",
}

BOTS3 = Generation(
    name="3",
    label="Bots 3.3.1",
    major=3,
    services={
        "webserver": _WEBSERVER,
        # The first SIGINT closes the XML-RPC socket; the second ends the process.
        "jobqueueserver": ServiceRules(
            stop=StopPlan(
                steps=(StopStep(0.0, signal.SIGINT), StopStep(2.0, signal.SIGINT)),
                timeout=10.0,
                leftover_signal=signal.SIGINT,
                abort_signal=signal.SIGINT,
            ),
            restart=_SERVER_RESTART,
        ),
        # KeyboardInterrupt ends it: killed by SIGINT, 130.
        "dirmonitor": ServiceRules(
            stop=StopPlan(
                steps=(StopStep(0.0, signal.SIGINT),),
                timeout=10.0,
                leftover_signal=signal.SIGINT,
                abort_signal=signal.SIGINT,
            ),
            restart=_SERVER_RESTART,
            stopped_code=130,
        ),
        # Let the run finish until 5 s before the deadline, then SIGINT every 2 s: one SIGINT
        # only aborts the route step that is running, and anything else leaves the mutex row.
        "engine": ServiceRules(
            stop=StopPlan(
                steps=(StopStep(5.0, signal.SIGINT, repeat=2.0, before_deadline=True),),
                timeout=25.0,
                leftover_signal=signal.SIGINT,
                abort_signal=signal.SIGINT,
            ),
            restart=RestartSpec(policy=RestartPolicy.NEVER),
            exit_meanings={**_ENGINE_MEANINGS, 130: "stopped during start-up, before the run loop"},
            stopped_code=2,
        ),
    },
    config=ConfigRules(
        botssys_default=None,
        relative_botssys=False,
        usersys_needs_init=True,
        absolute_usersys=False,
        settings_botssys="BOTSSYS_PATH",
        dirmonitor_db_routes=False,
        dirmonitor_needs_jobqueue=False,
        jobqueue_runs_jobs=False,
    ),
    databases={
        SQLITE: DatabaseRule(SQLITE),
        POSTGRESQL_PSYCOPG2: DatabaseRule(POSTGRESQL_PSYCOPG2, needs=("psycopg2",)),
        MYSQL: DatabaseRule(MYSQL, needs=("MySQLdb",)),
    },
    initdb=InitDbRules(
        absolute_botssys=True,
        drop_example_dirmonitors=True,
        settings_botssys_line=(
            "BOTSSYS_PATH = os.path.join("
            "os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'botssys')"
        ),
        db_engines={
            "sqlite3": SQLITE,
            "sqlite": SQLITE,
            "postgresql": POSTGRESQL_PSYCOPG2,
            "postgres": POSTGRESQL_PSYCOPG2,
            "postgresql_psycopg2": POSTGRESQL_PSYCOPG2,
        },
        sqlite_options="{}",
        schema="syncdb",
        raw_sql={
            "postgresql": {t: f"{t}.postgresql_psycopg2.sql" for t in ("mutex", "persist", "ta")},
        },
        raw_sql_mode="replace",
        schemed_origins=False,
    ),
    sigint_ends_engine_run=False,
    run_in_data_folder=False,
    root_page_reads_database=False,
    gui_run_path="/runengine/",
    plugin_index="botsindex.py",
)

BOTS4 = Generation(
    name="4",
    label="Bots 4.0",
    major=4,
    services={
        "webserver": _WEBSERVER,
        # One SIGINT: the server sends itself SIGTERM at once (143, a clean stop); the group
        # SIGINT also stops a queued engine cleanly (130). A second SIGINT would only risk
        # interrupting that engine's clean-up.
        "jobqueueserver": ServiceRules(
            stop=StopPlan(
                steps=(StopStep(0.0, signal.SIGINT),),
                timeout=10.0,
                leftover_signal=signal.SIGINT,
                abort_signal=signal.SIGINT,
            ),
            restart=_SERVER_RESTART,
            success_codes=frozenset({143}),
            stopped_code=143,
        ),
        "dirmonitor": ServiceRules(
            stop=StopPlan(
                steps=(StopStep(0.0, signal.SIGINT),),
                timeout=10.0,
                leftover_signal=signal.SIGINT,
                abort_signal=signal.SIGINT,
            ),
            restart=_SERVER_RESTART,
        ),
        # One SIGINT ends the whole run cleanly (130, mutex row removed): let it run, then one
        # SIGINT 5 s before the deadline.
        "engine": ServiceRules(
            stop=StopPlan(
                steps=(StopStep(5.0, signal.SIGINT, before_deadline=True),),
                timeout=25.0,
                leftover_signal=signal.SIGINT,
                abort_signal=signal.SIGINT,
            ),
            restart=RestartSpec(policy=RestartPolicy.NEVER),
            exit_meanings={
                **_ENGINE_MEANINGS,
                130: "run stopped: the rest of it was skipped, no mutex row left",
            },
            stopped_code=130,
        ),
    },
    config=ConfigRules(
        botssys_default="botssys",
        relative_botssys=True,
        usersys_needs_init=False,
        absolute_usersys=True,
        settings_botssys="BOTSSYS",
        dirmonitor_db_routes=True,
        dirmonitor_needs_jobqueue=True,
        jobqueue_runs_jobs=True,
    ),
    databases={
        SQLITE: DatabaseRule(SQLITE),
        # Bots' engine connects with psycopg 3 for `postgresql`, with psycopg2 for the old
        # name (which Django 5 maps to its `postgresql` backend).
        POSTGRESQL: DatabaseRule(POSTGRESQL, needs=("psycopg",)),
        POSTGRESQL_PSYCOPG2: DatabaseRule(POSTGRESQL_PSYCOPG2, needs=("psycopg2",)),
        MYSQL: DatabaseRule(MYSQL, needs=("MySQLdb",)),
    },
    initdb=InitDbRules(
        absolute_botssys=False,
        drop_example_dirmonitors=False,
        settings_botssys_line=None,
        db_engines={
            "sqlite3": SQLITE,
            "sqlite": SQLITE,
            "postgresql": POSTGRESQL,
            "postgres": POSTGRESQL,
            "postgresql_psycopg2": POSTGRESQL_PSYCOPG2,
            "mysql": MYSQL,
        },
        sqlite_options=(
            "{'init_command': 'PRAGMA synchronous=OFF;', 'transaction_mode': 'EXCLUSIVE',"
            " 'timeout': 99.0}"
        ),
        schema="migrate",
        raw_sql={
            kind: {
                **{t: f"{t}.{kind}.sql" for t in ("mutex", "persist", "ta")},
                "uniek": "uniek.sql",
            }
            for kind in ("postgresql", "mysql")
        },
        raw_sql_mode="create",
        schemed_origins=True,
    ),
    sigint_ends_engine_run=True,
    run_in_data_folder=True,
    root_page_reads_database=True,
    gui_run_path="/bots/runengine/",
    plugin_index="botsindex.json",
)

#: Oldest first; an unknown version gets the last one.
GENERATIONS: tuple[Generation, ...] = (BOTS3, BOTS4)
NEWEST = GENERATIONS[-1]


def major_of(version: str) -> int | None:
    """The leading number of a version string (`4` for `4.0.0a3`), None when there is none."""
    digits = ""
    for char in version.strip():
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None


def for_version(version: str) -> tuple[Generation, str | None]:
    """The rules for a Bots version, and a warning when the version is not one we know."""
    major = major_of(version)
    for generation in GENERATIONS:
        if generation.major == major:
            return generation, None
    shown = version or "unknown"
    warning = (
        f"Bots version {shown} is not one bots-runtime knows"
        f" ({', '.join(g.label for g in GENERATIONS)}); using the rules of {NEWEST.label}"
    )
    return NEWEST, warning


def info(version: str, generation: Generation) -> dict[str, str]:
    """The labels the runtime shows for this Bots (`check`, the build_info metric)."""
    return {"bots_version": version or "unknown", "bots_generation": generation.name}
