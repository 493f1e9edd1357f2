"""Evaluate a Bots settings.py; print the Bots version, botssys, database, TIME_ZONE and hosts.

Usage: python read_settings.py SETTINGS_PY [MODULE,MODULE...]. The modules are database
drivers; for each, whether this interpreter could import it (found, not imported). Only plain
strings come back, never objects.
"""

from __future__ import annotations

import importlib.util
import json
import runpy
import sys

from find_bots import bots_version  # type: ignore[import-not-found]  # sibling, on sys.path

KEYS = ("ENGINE", "NAME", "HOST", "PORT", "USER", "PASSWORD")
DJANGO_DEFAULT_ZONE = "America/Chicago"
#: settings.py's name for the botssys folder: Bots 3.3.1's template, Bots 4.0's.
BOTSSYS_NAMES = ("BOTSSYS_PATH", "BOTSSYS")


def allowed_hosts(value: object) -> list[str] | None:
    """ALLOWED_HOSTS as strings; None when it is not a list of them (Django would refuse it)."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return None
    return [str(v) for v in value]


def main(path: str, drivers: list[str]) -> None:
    """Run settings.py as Django would import it and print what bots-runtime needs."""
    values = runpy.run_path(path)
    databases = values.get("DATABASES") or {}
    default = dict(databases.get("default") or {})
    botssys = {name: values[name] for name in BOTSSYS_NAMES if isinstance(values.get(name), str)}
    out = {
        "bots_version": bots_version(),
        "botssys": botssys,
        "db": {key: str(default.get(key) or "") for key in KEYS},
        # Django's own default when the name is missing; None means the system's zone.
        "time_zone": values.get("TIME_ZONE", DJANGO_DEFAULT_ZONE) or "",
        "drivers": {name: importlib.util.find_spec(name) is not None for name in drivers},
        "allowed_hosts": allowed_hosts(values.get("ALLOWED_HOSTS")),
    }
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(
        sys.argv[1],
        [name for name in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if name],
    )
