"""Configure routes in a Bots environment the way a Bots user does: with Bots' own code.

Run with the Python of the Bots under test (any version):

    python routes.py -c<config> --index botsindex.json --route NAME:PARTS [...] [--deactivate-all]

Routes come in through a plugin zip read by `bots.pluglib.read_plugin`, what the GUI's "Read
plugin" page calls, and are activated through Bots' Django model, what ticking "active" in the
GUI does. No SQL is written into any table by hand. Each route is empty except for its
routescript (written into usersys by the caller), whose `main()` Bots then runs instead.
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


def plugin(path: str, index: str, routes: list[tuple[str, int]]) -> None:
    """A plugin zip holding only route definitions, with the index this Bots reads."""
    plugs = [
        dict(ROUTE_FIELDS, plugintype="routes", idroute=name, seq=seq)
        for name, parts in routes
        for seq in range(1, parts + 1)
    ]
    with zipfile.ZipFile(path, "w") as archive:
        if index == "botsindex.py":
            lines = ["version = '3'", "plugins = ["] + [f"    {p!r}," for p in plugs] + ["]"]
            archive.writestr(index, "\n".join(lines) + "\n")
        else:
            body = {"bots_version": "4", "plugins": {"routes": plugs}}
            archive.writestr(index, json.dumps(body))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", dest="config", required=True)
    parser.add_argument("--index", required=True, choices=("botsindex.py", "botsindex.json"))
    parser.add_argument("--route", action="append", default=[], help="NAME:PARTS")
    parser.add_argument("--deactivate-all", action="store_true")
    args = parser.parse_args()

    import logging  # noqa: PLC0415

    from bots import botsglobal, botsinit  # noqa: PLC0415 - the interpreter's own Bots

    botsinit.generalinit(args.config)
    logger = logging.getLogger("tests.routes")
    logger.addHandler(logging.StreamHandler(sys.stderr))
    logger.setLevel(logging.WARNING)  # the plugin reader logs every row at INFO
    botsglobal.logger = logger

    import django.db  # noqa: PLC0415
    from bots import models, pluglib  # noqa: PLC0415

    if args.deactivate_all:
        for route in models.routes.objects.filter(active=True):
            route.active = False
            route.save()
    routes = [(n, int(p)) for n, p in (item.split(":") for item in args.route)]
    if routes:
        with tempfile.TemporaryDirectory() as temp:
            path = os.path.join(temp, "routes.zip")
            plugin(path, args.index, routes)
            with django.db.transaction.atomic():
                pluglib.read_plugin(path)
        for route in models.routes.objects.filter(idroute__in=[n for n, _ in routes]):
            route.active = True
            route.save()
    active = sorted(models.routes.objects.filter(active=True).values_list("idroute", "seq"))
    sys.stdout.write(json.dumps(active) + "\n")


if __name__ == "__main__":
    main()
