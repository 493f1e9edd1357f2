"""Create what is missing of Bots' database and its GUI users; change nothing that exists.

Usage: python create_schema.py < JOB, where JOB is one JSON object (on stdin, so a password
never shows in a process list):

    config_dir   the Bots config directory
    sql_dir      Bots' `sql/` folder
    schema       `syncdb`: Django creates the missing tables from the models (Bots 3.3.1 ships
                 no migrations); `migrate`: Django applies the migrations not applied yet
                 (Bots 4.0); `none`: the schema is left alone (a SQLite copy of Bots' install
                 database, which is complete)
    raw_mode     `replace`: Django made the raw-SQL tables without Bots' column defaults, swap
                 them for Bots' own SQL while still empty (3.3.1's files drop the table
                 first); `create`: run Bots' SQL for each one that is absent (4.0's models
                 leave them out, `managed = False`)
    raw_tables   {table: file in sql_dir}
    default_user [name, password]: created as superuser when the database has no user at all
                 and no admin is named; null: never
    admin        {name, password, email}: created as superuser when no user of that name
                 exists; an existing one is never changed; null: none
    drop_user    the login of the install database init-db has just copied: removed when an
                 admin is named, so no well-known password is left behind; null: none

Bots' own initialisation (`botsinit.generalinit`) reads the environment and sets up Django, as
every Bots program does. On PostgreSQL and MySQL everything runs under the server's advisory
lock so two init-db runs take turns (SQLite: init-db's file lock already serialises them).

Prints {"done": [...], "notes": [...]} as JSON on the last line of stdout.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

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
VENDORS = ("postgresql", "mysql", "sqlite")


def statements(sql: str) -> list[str]:
    """Bots' SQL files hold plain DDL: split on `;` (MySQL runs one statement per call)."""
    return [part.strip() for part in sql.split(";") if part.strip()]


def make_schema(schema: str) -> list[str]:
    """Django's part: migrations (4.0) or tables from the models (3.3.1), when any is missing."""
    from django.apps import apps  # noqa: PLC0415 - this interpreter is Bots', not the runtime's
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415
    from django.db.migrations.executor import MigrationExecutor  # noqa: PLC0415

    if schema == "none":
        return []
    if schema == "migrate":
        executor = MigrationExecutor(connection)
        pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        if not pending:
            return []
        upgrade = any(app == "bots" for app, _name in executor.loader.applied_migrations)
        call_command("migrate", interactive=False, verbosity=0)
        if upgrade:
            return [f"applied {pending} pending migrations (a database of an older Bots)"]
        return [f"created schema ({pending} migrations)"]
    wanted = {m._meta.db_table for m in apps.get_models(include_auto_created=True)}  # noqa: SLF001
    missing = sorted(wanted - set(connection.introspection.table_names()))
    if not missing:
        return []
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)
    return [f"created schema ({len(missing)} tables)"]


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
        created.append(f"created table {table} from {path}")
    return created


def make_users(
    default: list[str] | None, admin: dict[str, str] | None, drop_user: str | None
) -> tuple[list[str], list[str]]:
    """The GUI superusers: the named admin when missing, else the default on an empty table.

    An existing user is never changed, whatever its password; that is said in a note.
    """
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    users = get_user_model()
    # Bots 3.3.1's install database predates Django 1.8: auth_user.last_login is NOT NULL.
    stamp = {"last_login": timezone.now()}
    done: list[str] = []
    notes: list[str] = []
    if admin is None:
        if default is not None and not users.objects.exists():
            users.objects.create_superuser(default[0], "", default[1], **stamp)
            done.append(f"created GUI superuser {default[0]}")
        return done, notes
    if drop_user is not None:
        gone = users.objects.filter(username=drop_user)
        if gone.exists():
            gone.delete()
            done.append(f"removed the install database's login {drop_user} (an admin is named)")
    name = admin["name"]
    if users.objects.filter(username=name).exists():
        notes.append(
            f"admin user {name} exists: left as it is (init-db never changes an existing user"
            " or its password)"
        )
    else:
        users.objects.create_superuser(name, admin.get("email", ""), admin["password"], **stamp)
        done.append(f"created GUI superuser {name} (the admin user)")
    return done, notes


def main(job: dict[str, Any]) -> None:
    """Create what is missing of the schema, the raw-SQL tables and the GUI users."""
    from bots import botsinit  # noqa: PLC0415 - this interpreter is Bots', not the runtime's

    botsinit.generalinit(job["config_dir"])
    from django.db import connection  # noqa: PLC0415

    if connection.vendor not in VENDORS:
        msg = f"init-db knows PostgreSQL, MySQL and SQLite, not {connection.vendor}"
        raise SystemExit(msg)
    lock, unlock = LOCKS.get(connection.vendor, ("", ""))
    if lock:
        with connection.cursor() as cursor:
            cursor.execute(lock, [LOCK_NAME])
    try:
        done = make_schema(job["schema"])
        done += make_raw_tables(job["sql_dir"], job["raw_mode"], job["raw_tables"])
        users, notes = make_users(job["default_user"], job["admin"], job["drop_user"])
        done += users
    finally:
        if unlock:
            with connection.cursor() as cursor:
                cursor.execute(unlock, [LOCK_NAME])
    sys.stdout.write("\n" + json.dumps({"done": done, "notes": notes}) + "\n")


if __name__ == "__main__":
    main(json.loads(sys.stdin.read()))
