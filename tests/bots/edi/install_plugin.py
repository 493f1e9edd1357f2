"""Install the EDI test routes into a Bots environment the way a Bots user does, never by SQL.

Run with the Python of the Bots installation under test (3.3.1 or 4.0):

    python install_plugin.py -c/abs/config [--activate edi_pass,edi_csv]

1. `botsinit.generalinit(config)`: Bots reads bots.ini and settings.py and sets up Django.
2. A plugin zip is built from `plugin.json` and `usersys/`: `botsindex.py` for Bots 3.x (the
   only index 3.3.1 reads), `botsindex.json` for 4.x (which still reads the .py one, but
   warns that it is deprecated).
3. `bots.pluglib.read_plugin(zip)`, the call behind the GUI's "Read plugin" page, writes the
   channels, routes and translation rule through Bots' models and the grammar, mapping and
   routescript files into usersys. It always stores routes inactive.
4. The routes named in `--activate` are switched on through the Django model, as ticking
   "active" in the GUI does.

Prints one JSON line: the Bots version, each channel's absolute folder and the active routes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHANNEL_DEFAULTS: dict[str, Any] = {"type": "file", "charset": "us-ascii", "desc": ""}
ROUTE_DEFAULTS: dict[str, Any] = {
    "seq": 1,
    "fromchannel": None,
    "tochannel": None,
    "fromeditype": "",
    "frommessagetype": "",
    "toeditype": "",
    "tomessagetype": "",
    "alt": "",
    "frompartner": None,
    "topartner": None,
    "frompartner_tochannel": None,
    "topartner_tochannel": None,
    "testindicator": "",
    "notindefaultrun": False,
    "defer": False,
    "zip_incoming": None,
    "zip_outgoing": None,
    # A 4.0 column; 3.3.1's plugin reader drops fields its models do not have.
    "dirmonitor": False,
    "active": False,
}
TRANSLATE_DEFAULTS: dict[str, Any] = {
    "active": True,
    "alt": "",
    "frompartner": None,
    "topartner": None,
    "desc": "",
}


def plugs(index: dict[str, Any]) -> list[dict[str, Any]]:
    """Bots' plugin rows: every channel, route and translation with its plugintype."""
    rows = [dict(CHANNEL_DEFAULTS, plugintype="channel", **c) for c in index["channels"]]
    rows += [dict(ROUTE_DEFAULTS, plugintype="routes", **r) for r in index["routes"]]
    rows += [dict(TRANSLATE_DEFAULTS, plugintype="translate", **t) for t in index["translations"]]
    return rows


def build_zip(target: Path, rows: list[dict[str, Any]], bots_version: str) -> None:
    """The plugin zip in the index format this Bots generation reads."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        if bots_version.startswith("3"):
            lines = [f"version = {bots_version!r}", "plugins = ["]
            lines += [f"    {row!r}," for row in rows]
            lines.append("]")
            archive.writestr("botsindex.py", "\n".join(lines) + "\n")
        else:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                grouped.setdefault(row["plugintype"], []).append(row)
            document = {"bots_version": bots_version, "plugins": grouped}
            archive.writestr("botsindex.json", json.dumps(document, indent=2))
        for path in sorted((HERE / "usersys").rglob("*.py")):
            if "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(HERE).as_posix())


def main() -> None:
    """Read the plugin into the environment named by -c and activate the chosen routes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-c", dest="config", required=True, help="absolute Bots config dir")
    parser.add_argument("--activate", default="edi_pass,edi_csv", help="routes to switch on")
    args = parser.parse_args()
    config = args.config.rstrip(os.sep)
    if not os.path.isabs(config):
        sys.exit("-c must be an absolute path")

    from bots import botsglobal, botsinit  # noqa: PLC0415 - the Bots of this interpreter

    botsinit.generalinit(config)
    logger = logging.getLogger("bots.testplugin")
    logger.addHandler(logging.StreamHandler(sys.stderr))
    logger.setLevel(logging.WARNING)  # the plugin reader logs every row at INFO
    botsglobal.logger = logger  # pluglib logs through it; engine.log stays untouched

    import django.db  # noqa: PLC0415
    from bots import botslib, models, pluglib  # noqa: PLC0415

    index = json.loads((HERE / "plugin.json").read_text(encoding="utf-8"))
    version = str(botsglobal.version)
    with tempfile.TemporaryDirectory(prefix="bots-test-plugin-") as temp:
        archive = Path(temp) / "plugin.zip"
        build_zip(archive, plugs(index), version)
        with django.db.transaction.atomic():
            pluglib.read_plugin(str(archive))
    known = [route["idroute"] for route in index["routes"]]
    wanted = [name for name in args.activate.split(",") if name]
    if unknown := sorted(set(wanted) - set(known)):
        sys.exit("not a test route: " + ", ".join(unknown))
    for route in models.routes.objects.filter(idroute__in=wanted):
        route.active = True
        route.save()
    folders = {}
    channels = [c["idchannel"] for c in index["channels"]]
    for channel in models.channel.objects.filter(idchannel__in=channels):
        folder = botslib.join(channel.path)  # Bots' own resolution of a relative channel path
        botslib.dirshouldbethere(folder)
        folders[channel.idchannel] = folder
    active = sorted(
        set(models.routes.objects.filter(active=True).values_list("idroute", flat=True))
    )
    print(json.dumps({"bots_version": version, "folders": folders, "active_routes": active}))


if __name__ == "__main__":
    main()
