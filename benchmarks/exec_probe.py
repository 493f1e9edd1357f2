"""The reference deployment's exec health check: Bots init, `django.setup()` and `SELECT 1`.

Run as `python exec_probe.py CONFIG_DIR`; exit 0 means the database answered. This is what
an exec probe costs every `periodSeconds`; the harness times it against one HTTP /readyz.
"""

import sys


def main(config_dir: str) -> int:
    """Initialise Bots (which runs `django.setup()`), then ask the database for `SELECT 1`."""
    from bots import botsinit  # noqa: PLC0415 - the import is part of what is measured

    botsinit.generalinit(config_dir)
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row = cursor.fetchone()
    return 0 if row == (1,) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
