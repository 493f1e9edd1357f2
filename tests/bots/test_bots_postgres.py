"""init-db and readiness against a real PostgreSQL server (Debian's postgresql 15 binaries).

The fixture makes a throw-away cluster in a temporary directory, owned by the `postgres`
user, listening on 127.0.0.1 and a free port with password (SCRAM) authentication, and stops
it by the PID in its postmaster.pid afterwards.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import environment as botsenv
from bots_runtime.bots import generation as generations
from bots_runtime.bots import initdb
from tests.bots import edikit
from tests.bots.kit import (
    BOTS_PYTHON,
    ROOT,
    BotsDir,
    StartRuntime,
    can_log_in,
    generation,
    have_bots,
    make_bots_dir,
    run_cli,
)
from tests.support import free_port, pgcluster, wait_until
from tests.support.pgcluster import PASSWORD, Cluster

if TYPE_CHECKING:
    from collections.abc import Iterator


def _pg_available() -> str | None:
    if reason := pgcluster.unavailable_reason():
        return reason
    if not have_bots():
        return "Bots EDI 3.3.1 is not installed"
    return None


SKIP_REASON = _pg_available()
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.bots,
    pytest.mark.slow,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


@pytest.fixture(name="pg", scope="module")
def _pg() -> Iterator[Cluster]:
    with pgcluster.cluster("bots-runtime-pg-", durable=False) as server:
        yield server


def pg_engines() -> dict[str, str]:
    """BOTS_DB_ENGINE values init-db offers for PostgreSQL, one per Django engine name they
    select (3.3.1: postgresql_psycopg2 only; 4.0: postgresql, psycopg 3, and the psycopg2 one)."""
    chosen: dict[str, str] = {}
    for value, engine in generation().initdb.db_engines.items():
        if generations.ENGINE_KINDS[engine] == "postgresql":
            chosen.setdefault(engine, value)
    return {value: engine for engine, value in chosen.items()}


def engine_label(value: str = "postgresql") -> str:
    """How the runtime names the database kind in its messages (the Django engine's last part)."""
    return generation().initdb.db_engines[value].rsplit(".", 1)[-1]


def pg_env(pg: Cluster, database: str, **extra: str) -> dict[str, str]:
    env = {
        "BOTS_DB_ENGINE": "postgresql",
        "BOTS_DB_HOST": "127.0.0.1",
        "BOTS_DB_PORT": str(pg.port),
        "BOTS_DB_NAME": database,
        "BOTS_DB_USER": "bots",
        "BOTS_DB_PASSWORD": PASSWORD,
    }
    env.update(extra)
    return env


def init(root: Path, env: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    code = initdb.main(str(root / "config"), env, out=out, err=out, executable=BOTS_PYTHON)
    return code, out.getvalue()


def schema_state(pg: Cluster, database: str) -> str:
    return pg.psql(
        "SELECT string_agg(table_name || ':' || column_name || ':' || coalesce(column_default,''),"
        " ',' ORDER BY table_name, column_name) FROM information_schema.columns"
        " WHERE table_schema = 'public'",
        database,
    )


def test_init_db_creates_schema_then_nothing(pg: Cluster, tmp_path: Path) -> None:
    """1. init-db on an empty database creates Bots' schema, raw-SQL tables and GUI user.
    2. A second init-db says "nothing to do" and the schema is unchanged.
    """
    pg.new_database("botsdb_a")
    code, out = init(tmp_path / "a", pg_env(pg, "botsdb_a"))
    assert code == 0, out
    assert "schema (" in out
    assert "GUI superuser bots" in out
    assert not (tmp_path / "a" / "botssys" / "sqlitedb" / "botsdb").exists()
    raw = sorted(generation().initdb.raw_sql["postgresql"])
    wanted = [*raw, "auth_user", "channel", "routes"]
    names = ", ".join(f"'{name}'" for name in wanted)
    tables = pg.psql(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        f" AND table_name IN ({names})",
        "botsdb_a",
    )
    assert tables == str(len(wanted))
    for table in raw:
        assert f"table {table} from " in out
    default = pg.psql(
        "SELECT column_default FROM information_schema.columns"
        " WHERE table_name = 'mutex' AND column_name = 'ts'",
        "botsdb_a",
    )
    assert default.upper().startswith("CURRENT_TIMESTAMP")
    before = schema_state(pg, "botsdb_a")
    code, out = init(tmp_path / "a", pg_env(pg, "botsdb_a"))
    assert code == 0
    assert out.strip().startswith("init-db: nothing to do;"), out
    assert f"{engine_label()} bots@127.0.0.1" in out
    assert schema_state(pg, "botsdb_a") == before


def test_concurrent_init_db_one_schema(pg: Cluster, tmp_path: Path) -> None:
    """Two pods with separate volumes but one database: both exit 0; one creates the schema."""
    pg.new_database("botsdb_b")
    env = pg_env(pg, "botsdb_b", PATH="/usr/bin:/bin")
    procs = [
        subprocess.Popen(
            [BOTS_PYTHON, "-m", "bots_runtime", "--port", "0", "init-db"],
            cwd=ROOT,
            env={**env, "BOTS_CONFIG_DIR": str(tmp_path / f"pod{n}" / "config")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("schema (" in out for out, _ in outputs) == 1, outputs
    assert pg.psql("SELECT count(*) FROM auth_user", "botsdb_b") == "1"


def test_engine_runs_on_postgres(pg: Cluster, tmp_path: Path, run_runtime: StartRuntime) -> None:
    """For each PostgreSQL engine name this Bots offers (4.0: psycopg 3 and psycopg2), the
    real bots-engine runs on the new schema: exit 0, one report row, its mutex row gone."""
    for n, value in enumerate(sorted(pg_engines())):
        database = f"botsdb_c{n}"
        pg.new_database(database)
        env = pg_env(pg, database, BOTS_DB_ENGINE=value)
        code, out = init(tmp_path / f"c{n}", env)
        assert code == 0, out
        bots = make_ports(tmp_path / f"c{n}")
        loaded = botsenv.load(str(bots.config), bots.env(**env), python=BOTS_PYTHON)
        assert loaded.database is not None
        assert loaded.database.engine == pg_engines()[value]
        runtime = run_runtime(["engine"], bots.env(**env))
        assert runtime.wait(60) == 0, runtime.output()
        assert pg.psql("SELECT count(*) FROM mutex", database) == "0"
        assert pg.psql("SELECT count(*) FROM report", database) == "1"


def make_ports(root: Path) -> BotsDir:
    """Give an init-db folder its own ports (make_bots_dir would run init-db again: a no-op)."""
    return make_bots_dir(root)


def test_webserver_ready_with_database(
    pg: Cluster, tmp_path: Path, run_runtime: StartRuntime
) -> None:
    """The webserver's database check passes against PostgreSQL and /readyz turns 200."""
    pg.new_database("botsdb_d")
    env = pg_env(pg, "botsdb_d")
    assert init(tmp_path / "d", env)[0] == 0
    bots = make_ports(tmp_path / "d")
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots.env(**env))
    runtime.wait_status("/readyz", 200, timeout=30)
    assert "[+]database ok" in runtime.text("/readyz?verbose")
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0


def test_wrong_password_not_ready(pg: Cluster, tmp_path: Path, run_runtime: StartRuntime) -> None:
    """With a wrong database password /readyz stays 503 and the database check names the
    database (without the password). 3.3.1's `GET /` still answers 200 meanwhile, which is why
    the database check exists; 4.0's `GET /` reads the database and fails as well."""
    pg.new_database("botsdb_e")
    assert init(tmp_path / "e", pg_env(pg, "botsdb_e"))[0] == 0
    bots = make_ports(tmp_path / "e")
    env = pg_env(pg, "botsdb_e", BOTS_DB_PASSWORD="wrong-secret")
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots.env(**env))
    web = "[-]web failed: GET" if generation().root_page_reads_database else "[+]web ok"
    runtime.wait_event("child running", timeout=20)
    wait_until(
        lambda: all(
            part in runtime.text("/readyz?verbose")
            for part in (web, f"[-]database failed: {engine_label()} bots@")
        ),
        30,
        "the web check to settle and the database check to fail",
    )
    text = runtime.text("/readyz?verbose")
    assert "botsdb_e" in text
    assert "wrong-secret" not in text
    assert runtime.status("/readyz") == 503
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0, runtime.output()


def test_missing_database_is_one_line(pg: Cluster, tmp_path: Path) -> None:
    """A database that does not exist: exit 78, one line naming settings.py and the server."""
    done = run_cli(
        ["init-db"],
        {
            "PATH": "/usr/bin:/bin",
            "BOTS_CONFIG_DIR": str(tmp_path / "m" / "config"),
            **pg_env(pg, "no_such_db"),
        },
    )
    assert done.returncode == 78, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"settings.py: DATABASES['default'] ({engine_label()} bots@127.0.0.1:" in lines[0]
    assert 'database "no_such_db" does not exist' in lines[0]
    assert PASSWORD not in done.stderr


@pytest.mark.prometheus
def test_edi_outcome_on_postgres(
    pg: Cluster, tmp_path: Path, run_runtime: StartRuntime, gateway: str
) -> None:
    """Real EDI on PostgreSQL: the pushed counts per route and the webserver's gauges, with
    report.ts read as the instant it is (timestamptz) and the read-only session allowed."""
    pg.new_database("botsdb_edi")
    env = pg_env(pg, "botsdb_edi")
    assert init(tmp_path / "edi", env)[0] == 0
    bots = make_ports(tmp_path / "edi")
    routes = edikit.install(bots, bots.env(**env), ("edi_pass", "edi_csv"))
    routes.drop("edi_pass", "pass_1.txt")
    routes.drop("edi_csv", "order_1001.csv", "bad_qty.csv")
    begun = time.time()
    runtime = run_runtime(["--pushgateway", gateway, "engine"], bots.env(**env), health=False)
    assert runtime.wait(60) == 2, runtime.output()
    ended = time.time()
    samples = edikit.parse(edikit.scrape(f"{gateway}/metrics"))
    report = {"job": "bots_engine_report", "instance": ""}
    per_route = {
        (dict(labels)["route"], dict(labels)["status"]): v
        for labels, v in edikit.series(
            samples, "bots_engine_last_run_route_files", **report
        ).items()
        if v
    }
    assert per_route == {("edi_csv", "done"): 1, ("edi_csv", "error"): 1, ("edi_pass", "done"): 1}
    new = {**report, "type": "new"}
    assert edikit.value(samples, "bots_engine_last_run_files_sent", **new) == 2

    text = edikit.webserver_metrics(run_runtime, bots, env)
    metrics = edikit.parse(text)
    assert edikit.value(metrics, "bots_runtime_collector_up", collector="edi") == 1
    recent = {"route": "edi_csv", "status": "error"}
    assert edikit.value(metrics, "bots_edi_recent_files", **recent) == 1
    stamp = edikit.value(metrics, "bots_edi_last_run_timestamp_seconds")
    assert stamp is not None
    assert begun - 1 <= stamp <= ended
    assert edikit.value(metrics, "bots_edi_engine_lock_rows") == 0
    assert edikit.promtool_check(text) == ""


def test_admin_user_instead_of_the_default(pg: Cluster, tmp_path: Path) -> None:
    """1. init-db on an empty database with an admin user named: that superuser is created
       and the well-known bots/botsbots login is not.
    2. A later init-db with another password leaves the admin as it is, and says so.
    """
    pg.new_database("botsdb_admin")
    admin = {"BOTS_ADMIN_USER": "admin", "BOTS_ADMIN_PASSWORD": "Adm1n-on-pg"}
    env = pg_env(pg, "botsdb_admin", **admin)
    code, out = init(tmp_path / "a", env)
    assert code == 0, out
    assert "init-db: created GUI superuser admin (the admin user) in" in out
    assert pg.psql("SELECT string_agg(username, ',') FROM auth_user", "botsdb_admin") == "admin"
    config = tmp_path / "a" / "config"
    assert can_log_in(config, [("admin", "Adm1n-on-pg")], env) == [True]
    code, out = init(tmp_path / "a", {**env, "BOTS_ADMIN_PASSWORD": "changed"})
    assert code == 0, out
    assert "admin user admin exists: left as it is" in out
    assert out.strip().splitlines()[-1].startswith("init-db: nothing to do;")
    assert can_log_in(config, [("admin", "Adm1n-on-pg"), ("admin", "changed")], env) == [
        True,
        False,
    ]


def test_first_run_retried_once_the_server_answers(pg: Cluster, tmp_path: Path) -> None:
    """1. A service's first run while the database server does not answer yet (a closed
       port): init-db's one line, exit 78; the configuration stays, with the marker.
    2. The next start, the server up: still a first run; init-db creates the schema.
    (The job queue is the service: the fresh bots.ini leaves it disabled, so it then stops
    with that line, and the test needs no Bots port.)
    """
    pg.new_database("botsdb_retry")
    root = tmp_path / "r"
    base = {
        "PATH": "/usr/bin:/bin",
        "BOTS_CONFIG_DIR": str(root / "config"),
        "PYTHONPATH": str(ROOT),
    }
    down = run_cli(
        ["jobqueueserver"], {**base, **pg_env(pg, "botsdb_retry", BOTS_DB_PORT=str(free_port()))}
    )
    assert down.returncode == 78, down.stdout + down.stderr
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1, down.stderr
    assert lines[0].startswith("init-db: ") and "DATABASES['default']" in lines[0]
    assert (root / initdb.PENDING_FILE).is_file()
    up = run_cli(["jobqueueserver"], {**base, **pg_env(pg, "botsdb_retry")})
    assert "did not finish" in up.stdout, up.stdout
    assert "schema (" in up.stdout
    assert not (root / initdb.PENDING_FILE).exists()
    assert "[jobqueue] enabled must be True" in up.stderr
    assert pg.psql("SELECT count(*) FROM auth_user", "botsdb_retry") == "1"
