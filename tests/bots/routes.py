"""Configure routes in a Bots environment the way a Bots user does: with Bots' own code.

Run with the Python of the Bots under test (any version):

    python routes.py -c<config> --index botsindex.json [--route NAME:PARTS ...]
        [--passthrough NAME [--watched]] [--deactivate-all]

Routes come in through a plugin zip read by `bots.pluglib.read_plugin`, what the GUI's "Read
plugin" page calls, and are activated through Bots' Django model, what ticking "active" in the
GUI does. No SQL is written into any table by hand. A `--route` is empty except for its
routescript (written into usersys by the caller), whose `main()` Bots then runs instead. A
`--passthrough` route moves files from `<botssys>/infile/NAME/*.txt` to
`<botssys>/outfile/NAME/out_*.txt` unchanged (absolute paths: Bots 4.0's dirmonitor never
matches a new file against a relative channel path); `--watched` flags it for that dirmonitor.
`--index` names the index file the plugin reader of this Bots reads (the generation table has
it). Prints the active routes as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence

#: Every route field either version knows; each plugin reader drops what it does not know.
ROUTE_FIELDS = {
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
    "translateind": 0,
    "notindefaultrun": False,
    "defer": False,
    "zip_incoming": None,
    "zip_outgoing": None,
    "dirmonitor": False,
    "desc": "",
    "active": False,
}


CHANNEL_FIELDS = {"type": "file", "charset": "us-ascii", "desc": ""}


def passthrough(name: str, botssys: str, *, watched: bool) -> list[dict[str, object]]:
    """Two file channels and a route that passes files between them untranslated."""
    return [
        dict(
            CHANNEL_FIELDS,
            plugintype="channel",
            idchannel=f"{name}_in",
            inorout="in",
            path=os.path.join(botssys, "infile", name),
            filename="*.txt",
            remove=True,
        ),
        dict(
            CHANNEL_FIELDS,
            plugintype="channel",
            idchannel=f"{name}_out",
            inorout="out",
            path=os.path.join(botssys, "outfile", name),
            filename="out_*.txt",
            remove=False,
        ),
        dict(
            ROUTE_FIELDS,
            plugintype="routes",
            idroute=name,
            seq=1,
            fromchannel=f"{name}_in",
            tochannel=f"{name}_out",
            translateind=2,
            dirmonitor=watched,
        ),
    ]


def plugin(
    path: str,
    index: str,
    plugs: Sequence[Mapping[str, object]],
    files: Sequence[tuple[str, str]] = (),
) -> None:
    """A plugin zip holding these definitions, with the index this Bots reads, and `files`.

    `files` are (file on disk, path in the zip) pairs, such as usersys grammars and mappings.
    """
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if index == "botsindex.py":
            lines = ["version = '3'", "plugins = ["] + [f"    {p!r}," for p in plugs] + ["]"]
            archive.writestr(index, "\n".join(lines) + "\n")
        else:
            grouped: dict[str, list[Mapping[str, object]]] = {}
            for plug in plugs:
                grouped.setdefault(str(plug["plugintype"]), []).append(plug)
            archive.writestr(index, json.dumps({"bots_version": "4", "plugins": grouped}))
        for source, name in files:
            archive.write(source, name)


def start_bots(config: str, logger_name: str) -> None:
    """Bots' own set-up for `config` (bots.ini, settings.py, Django), logging warnings only."""
    import logging  # noqa: PLC0415

    from bots import botsglobal, botsinit  # noqa: PLC0415 - the interpreter's own Bots

    botsinit.generalinit(config)
    logger = logging.getLogger(logger_name)
    logger.addHandler(logging.StreamHandler(sys.stderr))
    logger.setLevel(logging.WARNING)  # the plugin reader logs every row at INFO
    botsglobal.logger = logger  # pluglib logs through it; engine.log stays untouched


def read_plugin(path: str) -> None:
    """What the GUI's "Read plugin" page does: Bots' reader, in one transaction."""
    import django.db  # noqa: PLC0415
    from bots import pluglib  # noqa: PLC0415

    with django.db.transaction.atomic():
        pluglib.read_plugin(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", dest="config", required=True)
    parser.add_argument("--index", required=True, choices=("botsindex.py", "botsindex.json"))
    parser.add_argument("--route", action="append", default=[], help="NAME:PARTS")
    parser.add_argument("--passthrough", action="append", default=[], help="NAME")
    parser.add_argument("--watched", action="store_true", help="passthrough: dirmonitor=True")
    parser.add_argument("--deactivate-all", action="store_true")
    args = parser.parse_args()
    start_bots(args.config, "tests.routes")

    from bots import botsglobal, models  # noqa: PLC0415 - the interpreter's own Bots

    if args.deactivate_all:
        for route in models.routes.objects.filter(active=True):
            route.active = False
            route.save()
    routes = [(n, int(p)) for n, p in (item.split(":") for item in args.route)]
    plugs = [
        dict(ROUTE_FIELDS, plugintype="routes", idroute=name, seq=seq)
        for name, parts in routes
        for seq in range(1, parts + 1)
    ]
    for name in args.passthrough:
        botssys = botsglobal.ini.get("directories", "botssys")
        plugs += passthrough(name, botssys, watched=args.watched)
    if plugs:
        with tempfile.TemporaryDirectory() as temp:
            path = os.path.join(temp, "routes.zip")
            plugin(path, args.index, plugs)
            read_plugin(path)
        names = [n for n, _ in routes] + list(args.passthrough)
        for route in models.routes.objects.filter(idroute__in=names):
            route.active = True
            route.save()
    active = sorted(models.routes.objects.filter(active=True).values_list("idroute", "seq"))
    sys.stdout.write(json.dumps(active) + "\n")


if __name__ == "__main__":
    main()
