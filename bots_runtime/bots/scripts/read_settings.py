"""Evaluate a Bots settings.py and print its BOTSSYS_PATH, database and TIME_ZONE as JSON.

Usage: python read_settings.py SETTINGS_PY. Only plain strings come back, never objects.
"""

from __future__ import annotations

import json
import runpy
import sys

KEYS = ("ENGINE", "NAME", "HOST", "PORT", "USER", "PASSWORD")
DJANGO_DEFAULT_ZONE = "America/Chicago"


def main(path: str) -> None:
    """Run settings.py as Django would import it and print what bots-runtime needs."""
    values = runpy.run_path(path)
    databases = values.get("DATABASES") or {}
    default = dict(databases.get("default") or {})
    out = {
        "botssys_path": values.get("BOTSSYS_PATH"),
        "db": {key: str(default.get(key) or "") for key in KEYS},
        # Django's own default when the name is missing; None means the system's zone.
        "time_zone": values.get("TIME_ZONE", DJANGO_DEFAULT_ZONE) or "",
    }
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
