"""What reading EDI outcomes costs, on a Bots database grown to 100,000 `ta` rows.

1. A Bots 3.3.1 environment made by init-db (SQLite; PostgreSQL in a throw-away cluster when
   this machine can run one), the test routes read in with Bots' plugin reader
   (tests/bots/edi), and three real engine runs: every kind of file, good files only, empty.
2. The rows those runs wrote (ta, report, filereport) are copied, ids shifted and timestamps
   spread over the last 29 days, until `ta` has the target size. Copies only: every row is
   one a real run wrote, and the grown database is a throw-away one.
3. Per repetition, one more real engine run with 7 files, around which a fresh interpreter
   does what the CLI does (benchmarks/edi_probe.py): the watermark before the spawn and the
   end-of-run read after it, both timed (driver import and connection included). Their sum is
   what outcome reading adds to an engine run. Target: at most 100 ms.
4. The webserver's refresh (`read_gauges`, as `RecentEdi` runs it: SQLite opened per
   reading, PostgreSQL on a kept connection) timed repeatedly. Target: at most 50 ms.

`python -m benchmarks edi [--smoke] [--ta N] [--reps N] [--out DIR] [--no-postgres]`
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import datetime as dt
import io
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.peers import REPO, free_port
from benchmarks.stats import Summary
from bots_runtime.bots import environment, initdb
from bots_runtime.bots.connection import connect, dialect
from bots_runtime.bots.recent import read_gauges
from bots_runtime.core.childenv import child_env
from tests.support import pgcluster

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bots_runtime.bots.environment import Database

EDI = REPO / "tests" / "bots" / "edi"
ROUTES = ("edi_pass", "edi_csv", "edi_stuck", "edi_open", "edi_procerr")
INBOX = {route: f"{route}_in" for route in ROUTES if route != "edi_procerr"}
#: One run with a file of every kind: 3 done, 1 in error, 1 stuck, 1 open (+ process errors).
EVERY_KIND = (
    ("edi_pass", "pass_1.txt"),
    ("edi_pass", "pass_2.edi"),
    ("edi_csv", "good/order_1001.csv"),
    ("edi_csv", "good/order_1002.csv"),
    ("edi_csv", "bad/bad_qty.csv"),
    ("edi_stuck", "stuck_1.txt"),
    ("edi_open", "open_1.txt"),
)
GOOD_ONLY = (
    ("edi_pass", "pass_1.txt"),
    ("edi_pass", "pass_2.edi"),
    ("edi_csv", "good/order_1001.csv"),
    ("edi_csv", "good/order_1002.csv"),
    ("edi_csv", "good/order_1003.csv"),
)
RESULTS = REPO / "benchmarks" / "results" / "edi"
SMOKE_RESULTS = REPO / "benchmarks" / "results" / "tmp" / "edi-smoke"
TARGETS = (
    ("added_ms", 100.0, "end-of-run read adds <= 100 ms"),
    ("refresh_ms", 50.0, "refresh <= 50 ms"),
)


@dataclass(frozen=True)
class Sizes:
    """How big the database grows and how often each thing is timed."""

    ta_rows: int
    reps: int
    refreshes: int
    postgres: bool

    @classmethod
    def full(cls) -> Sizes:
        """The issue's sizes: 100,000 ta rows."""
        return cls(ta_rows=100_000, reps=10, refreshes=50, postgres=True)

    @classmethod
    def smoke(cls) -> Sizes:
        """Small enough for CI, SQLite only, every metric still measured."""
        return cls(ta_rows=3_000, reps=2, refreshes=10, postgres=False)


@dataclass
class Env:
    """One Bots environment: its config folder, the environment its programs get, its DB."""

    config: Path
    env: dict[str, str]
    database: Database
    folders: dict[str, str] = dataclasses.field(default_factory=dict)

    def engine(self) -> int:
        """One real `bots-engine --new` run; its exit code."""
        program = Path(sys.executable).parent / "bots-engine"
        done = subprocess.run(
            [str(program), f"-c{self.config}", "--new"],
            env=self.env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        return done.returncode

    def drop(self, files: tuple[tuple[str, str], ...]) -> None:
        """Copy sample files into their routes' inboxes."""
        for route, name in files:
            shutil.copy(EDI / "samples" / route / name, Path(self.folders[INBOX[route]]))


def make_env(root: Path, db_env: dict[str, str]) -> Env:
    """init-db, free ports, the test plugin with every route but the sleeping one."""
    out = io.StringIO()
    code = initdb.main(str(root / "config"), db_env, out=out, err=out)
    if code != 0:
        raise RuntimeError(f"init-db failed: {out.getvalue().strip()}")
    ini = root / "config" / "bots.ini"
    parser = configparser.RawConfigParser()
    parser.read(ini, encoding="utf-8")
    for section in ("settings", "webserver", "jobqueue"):
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, "port", str(free_port()))
    with ini.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(root), **db_env}
    loaded = environment.load(str(root / "config"), child_env(env), python=sys.executable)
    assert loaded.database is not None
    done = subprocess.run(
        [
            sys.executable,
            str(EDI / "install_plugin.py"),
            f"-c{loaded.config_dir}",
            "--index",
            loaded.generation.plugin_index,
            "--activate",
            ",".join(ROUTES),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"install_plugin failed: {done.stderr.strip()[-800:]}")
    folders = json.loads(done.stdout.strip().splitlines()[-1])["folders"]
    return Env(loaded.config_dir, env, loaded.database, folders)


def seed(bots: Env) -> list[int]:
    """Three real runs: every kind of file, good files only, nothing."""
    codes = []
    for files in (EVERY_KIND, GOOD_ONLY, ()):
        bots.drop(files)
        codes.append(bots.engine())
    return codes


def _writer(database: Database) -> Any:
    if database.is_sqlite:
        return sqlite3.connect(database.name)
    import psycopg2  # noqa: PLC0415

    return psycopg2.connect(
        host=database.host,
        port=database.port,
        dbname=database.name,
        user=database.user,
        password=database.password,
    )


def _scalar(cursor: Any, sql: str) -> Any:
    cursor.execute(sql)
    return cursor.fetchone()[0]


def _columns(cursor: Any, sqlite: bool, table: str) -> list[str]:
    if sqlite:
        cursor.execute(f"PRAGMA table_info({table})")
        return [str(row[1]) for row in cursor.fetchall()]
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        " AND table_schema = current_schema() ORDER BY ordinal_position",
        (table,),
    )
    return [str(row[0]) for row in cursor.fetchall()]


#: Id columns to shift in a copy: always, and only where set (0 means "none").
SHIFT_ALWAYS = {"ta": {"idta"}, "report": {"idta"}, "filereport": {"idta", "reportidta"}}
SHIFT_IF_SET = {
    "ta": {"parent", "child", "script", "confirmidta"},
    "filereport": {"outidta", "inidta"},
    "report": set(),
}


def _copy_sql(
    table: str, names: list[str], *, sqlite: bool, copies: int, stride: int, step: float
) -> str:
    """INSERT ... SELECT of the original block, copies 1 .. copies-1, ids and ts shifted."""
    exprs = []
    for name in names:
        if name in SHIFT_ALWAYS[table]:
            exprs.append(f't."{name}" + k.n * {stride}')
        elif name in SHIFT_IF_SET[table]:
            exprs.append(f't."{name}" + CASE WHEN t."{name}" > 0 THEN k.n * {stride} ELSE 0 END')
        elif name == "ts":
            exprs.append(_moved(f"k.n * {step}", "t.ts", sqlite=sqlite))
        else:
            exprs.append(f't."{name}"')
    if sqlite:
        numbers = (
            "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k"
            f" WHERE n < {copies - 1}) "
        )
        source = "k"
    else:
        numbers, source = "", f"generate_series(1, {copies - 1}) AS k(n)"
    listed = ", ".join(f'"{name}"' for name in names)
    return (
        f"INSERT INTO {table} ({listed}) {numbers}SELECT {', '.join(exprs)}"
        f" FROM {table} AS t, {source} WHERE t.idta < {stride}"
    )


def _moved(seconds: str, column: str, *, sqlite: bool) -> str:
    if sqlite:
        return f"datetime({column}, ({seconds}) || ' seconds')"
    return f"{column} + make_interval(secs => ({seconds}))"


TABLES = ("ta", "report", "filereport")


def grow(database: Database, target: int, days: float = 29.0) -> dict[str, Any]:
    """Copy the rows real runs wrote until `ta` has `target` rows (see the module docstring).

    Each copy is a consistent set of runs (every id shifted by k * stride); copies are spread
    evenly over `days`, the newest keeping the real runs' times and the original block moving
    to the oldest slot, so idta and time grow together as in a live database.
    """
    connection = _writer(database)
    sqlite = database.is_sqlite
    cursor = connection.cursor()
    base = int(_scalar(cursor, "SELECT COUNT(*) FROM ta"))
    top = max(int(_scalar(cursor, f"SELECT COALESCE(MAX(idta), 0) FROM {t}")) for t in TABLES)
    stride = top + 1
    copies = max(1, math.ceil(target / base))
    step = days * 86400.0 / copies
    begun = time.monotonic()
    for table in TABLES:
        oldest = _moved(str(-(copies - 1) * step), "ts", sqlite=sqlite)
        cursor.execute(f"UPDATE {table} SET ts = {oldest}")
        if copies > 1:
            names = _columns(cursor, sqlite, table)
            cursor.execute(
                _copy_sql(table, names, sqlite=sqlite, copies=copies, stride=stride, step=step)
            )
    top = max(int(_scalar(cursor, f"SELECT MAX(idta) FROM {t}")) for t in TABLES)
    if sqlite:
        cursor.execute(f"UPDATE sqlite_sequence SET seq = MAX(seq, {top}) WHERE name = 'ta'")
    else:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('ta', 'idta'), {top})")
    connection.commit()
    if not sqlite:
        connection.autocommit = True
        for table in TABLES:
            cursor.execute(f"ANALYZE {table}")
    rows = {t: int(_scalar(cursor, f"SELECT COUNT(*) FROM {t}")) for t in TABLES}
    connection.close()
    return {"copies": copies, "rows": rows, "seconds": round(time.monotonic() - begun, 2)}


def time_run(bots: Env) -> dict[str, Any]:
    """One real engine run with every kind of file, with the CLI's reads around it timed."""
    bots.drop(EVERY_KIND)
    fields = {f.name: getattr(bots.database, f.name) for f in dataclasses.fields(bots.database)}
    probe = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.edi_probe", json.dumps(fields)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert probe.stdin is not None
    assert probe.stdout is not None
    before = json.loads(probe.stdout.readline())
    code = bots.engine()
    probe.stdin.write("go\n")
    probe.stdin.flush()
    after = json.loads(probe.stdout.readline() or "{}")
    probe.wait(60)
    if before.get("problem") or "read_ms" not in after:
        raise RuntimeError(f"probe failed: {before} {after}")
    if after["received"] != len(EVERY_KIND):
        raise RuntimeError(f"the run's report says {after['received']} files, not 7: {after}")
    return {
        "watermark_ms": before["watermark_ms"],
        "read_ms": after["read_ms"],
        "added_ms": before["watermark_ms"] + after["read_ms"],
        "engine_code": code,
    }


def time_refreshes(database: Database, count: int) -> list[float]:
    """`read_gauges` as the webserver's collector runs it, `count` times, in milliseconds."""
    sql = dialect(database)
    kept = None if database.is_sqlite else connect(database, 4.0)
    out: list[float] = []
    try:
        for _ in range(count):
            begun = time.perf_counter()
            connection = kept if kept is not None else connect(database, 4.0)
            families = read_gauges(connection, sql, now=time.time())
            if kept is None:
                connection.close()
            out.append((time.perf_counter() - begun) * 1000)
            if not families:
                raise RuntimeError("a refresh returned no gauges")
    finally:
        if kept is not None:
            kept.close()
    return out


def bench(bots: Env, sizes: Sizes) -> dict[str, Any]:
    """Seed, grow, then time runs and refreshes on one database."""
    seeded = seed(bots)
    grown = grow(bots.database, sizes.ta_rows)
    runs = [time_run(bots) for _ in range(sizes.reps)]
    refresh = time_refreshes(bots.database, sizes.refreshes)
    summary = {
        metric: Summary.of([run[metric] for run in runs]).as_dict()
        for metric in ("watermark_ms", "read_ms", "added_ms")
    }
    summary["refresh_ms"] = Summary.of(refresh).as_dict()
    return {"seed_codes": seeded, "grown": grown, "runs": runs, "summary": summary}


@contextlib.contextmanager
def _postgres_env(root: Path) -> Iterator[dict[str, str]]:
    with pgcluster.cluster("bots-bench-pg-") as server:
        server.psql("CREATE DATABASE botsbench OWNER bots")
        yield {
            "BOTS_DB_ENGINE": "postgresql",
            "BOTS_DB_HOST": "127.0.0.1",
            "BOTS_DB_PORT": str(server.port),
            "BOTS_DB_NAME": "botsbench",
            "BOTS_DB_USER": "bots",
            "BOTS_DB_PASSWORD": pgcluster.PASSWORD,
        }
    del root


def run(sizes: Sizes, *, log: Any = print) -> dict[str, Any]:
    """Every database this machine can run; the JSON-ready document."""
    doc: dict[str, Any] = {
        "meta": {
            "mode": "smoke" if sizes == Sizes.smoke() else "full",
            "sizes": dataclasses.asdict(sizes),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "databases": {},
        "skipped": {},
        "errors": {},
    }
    with tempfile.TemporaryDirectory(prefix="bots-bench-edi-") as temp:
        kinds = ["sqlite"] + (["postgresql"] if sizes.postgres else [])
        for kind in kinds:
            reason = pgcluster.unavailable_reason() if kind == "postgresql" else ""
            if reason:
                doc["skipped"][kind] = reason
                log(f"skip {kind}: {reason}")
                continue
            root = Path(temp) / kind
            try:
                with contextlib.ExitStack() as stack:
                    db_env = (
                        stack.enter_context(_postgres_env(root)) if kind == "postgresql" else {}
                    )
                    result = bench(make_env(root, db_env), sizes)
            except Exception as err:
                doc["errors"][kind] = f"{type(err).__name__}: {err}"
                log(f"FAIL {kind}: {err}")
                continue
            doc["databases"][kind] = result
            shown = ", ".join(f"{k} {v['median']:.2f}" for k, v in result["summary"].items())
            log(f"{kind} ({result['grown']['rows']['ta']:,} ta rows): {shown} (median ms)")
    doc["targets"] = [
        {
            "database": kind,
            "metric": metric,
            "target": limit,
            "text": text,
            "median": result["summary"][metric]["median"],
            "max": result["summary"][metric]["max"],
            "met": result["summary"][metric]["median"] <= limit,
        }
        for kind, result in doc["databases"].items()
        for metric, limit, text in TARGETS
    ]
    return doc


def page(doc: dict[str, Any]) -> str:
    """The results as Markdown."""
    meta = doc["meta"]
    lines = [
        "# EDI outcome reading: cost on a grown Bots database",
        "",
        (
            f"{meta['mode']} run, {meta['started']}, {meta['machine']}, Python"
            f" {meta['python']}, SQLite {meta['sqlite']}. Made by `python -m benchmarks edi`"
            " (benchmarks/edi.py)."
        ),
        "",
        (
            "| database | ta / report / filereport rows | watermark ms | end read ms"
            " | added ms | refresh ms |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for kind, result in doc["databases"].items():
        rows = result["grown"]["rows"]
        cells = [
            f"{s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}]"
            for s in (
                result["summary"][m] for m in ("watermark_ms", "read_ms", "added_ms", "refresh_ms")
            )
        ]
        lines.append(
            f"| {kind} | {rows['ta']:,} / {rows['report']:,} / {rows['filereport']:,} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "Median [min-max] in milliseconds.",
        "",
        "| target | database | median | max | result |",
        "|---|---|---|---|---|",
    ]
    for target in doc["targets"]:
        verdict = "met" if target["met"] else "**missed**"
        lines.append(
            f"| {target['text']} | {target['database']} | {target['median']:.2f}"
            f" | {target['max']:.2f} | {verdict} |"
        )
    for kind, reason in doc["skipped"].items():
        lines.append(f"\nSkipped {kind}: {reason}")
    for kind, error in doc["errors"].items():
        lines.append(f"\nFailed {kind}: {error}")
    lines += [
        "",
        "- watermark: the before-spawn hook in a fresh interpreter (driver import, connection,",
        "  the newest report row); end read: the run's report rows, filereport per route",
        "  (primary-key range) and ta process errors; added = the two, per run.",
        "- refresh: one reading of the webserver's EDI gauges (five queries; SQLite opened per",
        "  reading, PostgreSQL on a kept connection, as the collector does).",
        "",
    ]
    return "\n".join(lines)


def main(
    smoke: bool, ta_rows: int | None, reps: int | None, out: Path | None, postgres: bool
) -> int:
    """Run, write results.json and README.md; exit 1 when a database failed."""
    sizes = Sizes.smoke() if smoke else Sizes.full()
    sizes = dataclasses.replace(
        sizes,
        ta_rows=ta_rows or sizes.ta_rows,
        reps=reps or sizes.reps,
        postgres=sizes.postgres and postgres,
    )
    doc = run(sizes, log=lambda text: print(text, file=sys.stderr, flush=True))
    target = out or (SMOKE_RESULTS if smoke else RESULTS)
    target.mkdir(parents=True, exist_ok=True)
    (target / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    (target / "README.md").write_text(page(doc))
    print(f"results in {target}/README.md", file=sys.stderr)
    return 1 if doc["errors"] else 0
