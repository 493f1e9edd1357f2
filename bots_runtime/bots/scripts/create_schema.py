"""Create Bots' schema on an empty PostgreSQL database; change nothing on a ready one.

Usage (with DJANGO_SETTINGS_MODULE set and the Bots data folder on PYTHONPATH):
python create_schema.py SQL_DIR ADMIN_USER ADMIN_PASSWORD TABLE[,TABLE...]

Django creates the tables from Bots' models; the tables Bots writes with raw SQL that relies
on column defaults Django does not create (`ts` defaults) are then replaced by Bots' own SQL
while they are still empty. A PostgreSQL advisory lock keeps two init-db runs apart. Prints
the list of what was created as JSON.
"""

from __future__ import annotations

import json
import os
import sys

LOCK = "SELECT pg_advisory_lock(hashtext('bots-runtime init-db'))"
UNLOCK = "SELECT pg_advisory_unlock(hashtext('bots-runtime init-db'))"
TS_DEFAULT = (
    "SELECT column_default FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = %s AND column_name = 'ts'"
)


def main(sql_dir: str, admin_user: str, admin_password: str, raw_tables: list[str]) -> None:
    """Migrate what is missing, fix the raw-SQL tables, add a GUI superuser if none exists."""
    import django  # noqa: PLC0415 - this interpreter is Bots', not the runtime's

    django.setup()
    from django.apps import apps  # noqa: PLC0415
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connection, transaction  # noqa: PLC0415

    created: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(LOCK)
    try:
        wanted = {m._meta.db_table for m in apps.get_models(include_auto_created=True)}  # noqa: SLF001
        present = set(connection.introspection.table_names())
        missing = sorted(wanted - present)
        if missing:
            call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)
            created.append(f"schema ({len(missing)} tables)")
        for table in raw_tables:
            with connection.cursor() as cursor:
                cursor.execute(TS_DEFAULT, [table])
                row = cursor.fetchone()
                if row is not None and row[0] is not None:
                    continue
                cursor.execute("SELECT COUNT(*) FROM " + table)  # noqa: S608 - names from init-db
                if cursor.fetchone()[0]:
                    msg = f"table {table} has rows but not Bots' own definition"
                    raise SystemExit(msg)
                path = os.path.join(sql_dir, table + ".postgresql_psycopg2.sql")
                with open(path, encoding="utf-8") as handle:
                    sql = handle.read()
                with transaction.atomic():
                    cursor.execute(sql)
                created.append(f"table {table} from {path}")
        user_model = get_user_model()
        if not user_model.objects.exists():
            user_model.objects.create_superuser(admin_user, "", admin_password)
            created.append(f"GUI superuser {admin_user}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(UNLOCK)
    sys.stdout.write(json.dumps(created))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(","))
