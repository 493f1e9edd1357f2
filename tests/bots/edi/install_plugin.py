"""Install the EDI test routes into a Bots environment the way a Bots user does, never by SQL.

Run with the Python of the Bots installation under test (3.3.1 or 4.0):

    python install_plugin.py -c/abs/config --index botsindex.json [--activate edi_pass,edi_csv]

1. `botsinit.generalinit(config)`: Bots reads bots.ini and settings.py and sets up Django.
2. A plugin zip is built from `plugin.json` and `usersys/` by ../routes.py, with the index the
   caller names from the generation table (`botsindex.py` is the only one 3.3.1 reads).
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
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the checkout, for the plugin writer beside us
from tests.bots.routes import (  # noqa: E402
    CHANNEL_FIELDS,
    ROUTE_FIELDS,
    plugin,
    read_plugin,
    start_bots,
)

TRANSLATE_DEFAULTS: dict[str, Any] = {
    "active": True,
    "alt": "",
    "frompartner": None,
    "topartner": None,
    "desc": "",
}


def plugs(index: dict[str, Any]) -> list[dict[str, Any]]:
    """Bots' plugin rows: every channel, route and translation with its plugintype."""
    rows = [dict(CHANNEL_FIELDS, plugintype="channel", **c) for c in index["channels"]]
    rows += [dict(ROUTE_FIELDS, plugintype="routes", seq=1, **r) for r in index["routes"]]
    rows += [dict(TRANSLATE_DEFAULTS, plugintype="translate", **t) for t in index["translations"]]
    return rows


def usersys_files() -> list[tuple[str, str]]:
    """The grammars, mappings and routescripts, at their usersys paths inside the zip."""
    return [
        (str(path), path.relative_to(HERE).as_posix())
        for path in sorted((HERE / "usersys").rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def main() -> None:
    """Read the plugin into the environment named by -c and activate the chosen routes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-c", dest="config", required=True, help="absolute Bots config dir")
    parser.add_argument("--index", required=True, choices=("botsindex.py", "botsindex.json"))
    parser.add_argument("--activate", default="edi_pass,edi_csv", help="routes to switch on")
    args = parser.parse_args()
    config = args.config.rstrip(os.sep)
    if not os.path.isabs(config):
        sys.exit("-c must be an absolute path")
    start_bots(config, "bots.testplugin")

    from bots import botsglobal, botslib, models  # noqa: PLC0415 - the Bots of this interpreter

    index = json.loads((HERE / "plugin.json").read_text(encoding="utf-8"))
    version = str(botsglobal.version)
    with tempfile.TemporaryDirectory(prefix="bots-test-plugin-") as temp:
        archive = str(Path(temp) / "plugin.zip")
        plugin(archive, args.index, plugs(index), usersys_files())
        read_plugin(archive)
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
