"""Create Bots' schema on an empty PostgreSQL or MySQL database; change nothing on a ready one.

Usage: python create_schema.py CONFIG_DIR SQL_DIR ADMIN_USER ADMIN_PASSWORD SCHEMA RAW_MODE
TABLE=FILE[,TABLE=FILE...]

Bots' own initialisation (`botsinit.generalinit`) reads the environment and sets up Django, as
every Bots program does (4.0's URL checks need it). Then, under the server's advisory lock so
two init-db runs take turns:

- SCHEMA `syncdb` (Bots 3.3.1 ships no migrations): Django creates the missing tables from
  the models; `migrate` (Bots 4.0): Django applies the migrations not applied yet;
- the tables Bots writes with raw SQL that relies on column defaults Django does not create:
  RAW_MODE `replace` swaps Django's version for Bots' own SQL while still empty (3.3.1's files
  drop the table first); `create` runs Bots' SQL for each one that is absent (4.0's models
  leave them out, `managed = False`);
- a GUI superuser when there is no user at all.

Prints the list of what was created as JSON on the last line of stdout.
"""

from __future__ import annotations

import json
import os
import sys

LOCK_NAME = "bots-runtime init-db"
LOCK_WAIT = 600
TS_DEFAULT = (
    "SELECT column_default FROM information_schema.columns"
    " WHERE table_schema = {schema} AND table_name = %s AND column_name = 'ts'"
)
SCHEMAS = {"postgresql": "current_schema()", "mysql": "DATABASE()"}
LOCKS = {
    "postgresql": (
        "SELECT pg_advisory_lock(hashtext(%s))",
        "SELECT pg_advisory_unlock(hashtext(%s))",
    ),
    "mysql": (f"SELECT GET_LOCK(%s, {LOCK_WAIT})", "SELECT RELEASE_LOCK(%s)"),
}


def statements(sql: str) -> list[str]:
    """Bots' SQL files hold plain DDL: split on `;` (MySQL runs one statement per call)."""
    return [part.strip() for part in sql.split(";") if part.strip()]


def make_schema(schema: str) -> list[str]:
    """Django's part: migrations (4.0) or tables from the models (3.3.1), when any is missing."""
    from django.apps import apps  # noqa: PLC0415 - this interpreter is Bots', not the runtime's
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415
    from django.db.migrations.executor import MigrationExecutor  # noqa: PLC0415

    if schema == "migrate":
        executor = MigrationExecutor(connection)
        pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        if not pending:
            return []
        call_command("migrate", interactive=False, verbosity=0)
        return [f"schema ({pending} migrations)"]
    wanted = {m._meta.db_table for m in apps.get_models(include_auto_created=True)}  # noqa: SLF001
    missing = sorted(wanted - set(connection.introspection.table_names()))
    if not missing:
        return []
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)
    return [f"schema ({len(missing)} tables)"]


def wanted_raw(table: str, raw_mode: str) -> bool:
    """Whether Bots' own SQL must (re)create `table` now."""
    from django.db import connection  # noqa: PLC0415

    present = table in connection.introspection.table_names()
    if raw_mode == "create":
        return not present
    with connection.cursor() as cursor:
        cursor.execute(TS_DEFAULT.format(schema=SCHEMAS[connection.vendor]), [table])
        row = cursor.fetchone()
        if row is not None and row[0] is not None:
            return False
        cursor.execute("SELECT COUNT(*) FROM " + table)  # noqa: S608 - names from init-db
        if cursor.fetchone()[0]:
            msg = f"table {table} has rows but not Bots' own definition"
            raise SystemExit(msg)
    return True


def make_raw_tables(sql_dir: str, raw_mode: str, raw_tables: dict[str, str]) -> list[str]:
    """The tables Bots writes with raw SQL, from Bots' own files."""
    from django.db import connection, transaction  # noqa: PLC0415

    created: list[str] = []
    for table, name in raw_tables.items():
        if not wanted_raw(table, raw_mode):
            continue
        path = os.path.join(sql_dir, name)
        with open(path, encoding="utf-8") as handle:
            sql = handle.read()
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements(sql):
                cursor.execute(statement)
        created.append(f"table {table} from {path}")
    return created


def main(
    config_dir: str,
    sql_dir: str,
    admin: tuple[str, str],
    schema: str,
    raw_mode: str,
    raw_tables: dict[str, str],
) -> None:
    """Create what is missing of the schema, the raw-SQL tables and the GUI user."""
    from bots import botsinit  # noqa: PLC0415 - this interpreter is Bots', not the runtime's

    botsinit.generalinit(config_dir)
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415

    if connection.vendor not in LOCKS:
        msg = f"init-db creates schemas on PostgreSQL and MySQL only, not on {connection.vendor}"
        raise SystemExit(msg)
    lock, unlock = LOCKS[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(lock, [LOCK_NAME])
    try:
        created = make_schema(schema)
        created += make_raw_tables(sql_dir, raw_mode, raw_tables)
        user_model = get_user_model()
        if not user_model.objects.exists():
            user_model.objects.create_superuser(admin[0], "", admin[1])
            created.append(f"GUI superuser {admin[0]}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(unlock, [LOCK_NAME])
    sys.stdout.write("\n" + json.dumps(created) + "\n")


if __name__ == "__main__":
    tables = dict(item.split("=", 1) for item in sys.argv[7].split(",") if item)
    main(sys.argv[1], sys.argv[2], (sys.argv[3], sys.argv[4]), sys.argv[5], sys.argv[6], tables)
