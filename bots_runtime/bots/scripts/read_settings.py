"""Evaluate a Bots settings.py and print its BOTSSYS_PATH and database entry as JSON.

Usage: python read_settings.py SETTINGS_PY. Only plain strings come back, never objects.
"""

from __future__ import annotations

import json
import runpy
import sys

KEYS = ("ENGINE", "NAME", "HOST", "PORT", "USER", "PASSWORD")


def main(path: str) -> None:
    """Run settings.py as Django would import it and print what bots-runtime needs."""
    values = runpy.run_path(path)
    databases = values.get("DATABASES") or {}
    default = dict(databases.get("default") or {})
    out = {
        "botssys_path": values.get("BOTSSYS_PATH"),
        "db": {key: str(default.get(key) or "") for key in KEYS},
    }
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
