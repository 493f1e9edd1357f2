"""Print where the `bots` package this interpreter imports lives, and its version, as JSON.

init-db needs both before any settings.py exists: the templates are in the package, and the
version decides which generation's rules render them.
"""

from __future__ import annotations

import json
import os
import sys


def bots_version() -> str:
    """The version of the `bots` package this interpreter imports ("" when it has none).

    `bots.__about__` is the package that will run (a tree on PYTHONPATH included) and costs
    well under a millisecond; `importlib.metadata` (the installed distribution) is the
    fallback, as its import alone costs about 40 ms here when nothing loaded it yet.
    """
    try:
        from bots.__about__ import __version__  # noqa: PLC0415 - the question being asked
    except Exception:  # noqa: BLE001, S110 - any failure means: ask the metadata instead
        pass
    else:
        return str(__version__)
    try:
        from importlib import metadata  # noqa: PLC0415

        return metadata.version("bots-ediint")
    except Exception:  # noqa: BLE001 - no metadata either: the caller decides what that means
        return ""


def main() -> None:
    """Import Bots and print where it lives and which version it is."""
    import bots  # noqa: PLC0415 - the import is the question being asked

    out = {"package": os.path.dirname(bots.__file__), "version": bots_version()}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
