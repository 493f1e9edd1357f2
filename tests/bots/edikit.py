"""Real EDI for the tests: routes installed through Bots' own plugin reader, sample files, and
a real Pushgateway to read pushed metrics back from.

`tests/bots/edi/` holds the plugin (plugin.json, a grammar pair, a mapping, two routescripts)
and the sample files; `install_plugin.py` runs in Bots' interpreter and writes the channels,
routes and translation through Bots' models, never by SQL. Every `ta`, `report` and
`filereport` row a test reads back was written by `bots-engine` running those routes.

| route | what it does with a file | how the file ends |
| --- | --- | --- |
| edi_pass | pass-through to an outbox | done |
| edi_csv | csv order -> mapping -> csv lines | good: done; bad: error |
| edi_stuck | pass-through without an outgoing channel | stuck |
| edi_open | translate with an editype Bots lacks | open, plus a process error |
| edi_procerr | empty route | a process error every run, no file |
| edi_sleep | pass-through that sleeps `EDI_RECIPE_SLEEP` s | done (used for crashes) |
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families

from tests.bots.kit import BOTS_PYTHON, BotsDir, generation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tests.bots.kit import StartRuntime
    from tests.support import RuntimeProcess

EDI = Path(__file__).resolve().parent / "edi"
SAMPLES = EDI / "samples"
GOOD = ("order_1001.csv", "order_1002.csv", "order_1003.csv")
BAD = ("bad_qty.csv", "bad_record.csv", "bad_mapping.csv")
#: The inbox channel of each route.
INBOX = {
    "edi_pass": "edi_pass_in",
    "edi_csv": "edi_csv_in",
    "edi_stuck": "edi_stuck_in",
    "edi_open": "edi_open_in",
    "edi_sleep": "edi_sleep_in",
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class EdiRoutes:
    """The test routes as installed in one Bots environment."""

    bots: BotsDir
    folders: Mapping[str, str]
    active: tuple[str, ...]
    version: str

    def drop(self, route: str, *names: str) -> None:
        """Copy sample files into the route's inbox (the engine removes them when read)."""
        for name in names:
            source = _sample(route, name)
            shutil.copy(source, Path(self.folders[INBOX[route]]) / name)

    def outbox(self, channel: str) -> list[str]:
        """Contents of the files in an outgoing channel's folder, sorted."""
        folder = Path(self.folders[channel])
        return sorted(p.read_text() for p in folder.iterdir() if p.is_file())

    @property
    def marker(self) -> Path:
        """Where the sleeping routescripts note `start`, `end`, `post-start`, `post-end`."""
        return self.bots.botssys / "edi_sleep.marker"


def _sample(route: str, name: str) -> Path:
    for candidate in (SAMPLES / route / name, SAMPLES / route / "good" / name):
        if candidate.is_file():
            return candidate
    return SAMPLES / route / "bad" / name


def bots_python() -> Path:
    """The interpreter of the Bots installation under test (BOTS_RUNTIME_TEST_BOTS_VENV's)."""
    return Path(BOTS_PYTHON)


def install(bots: BotsDir, env: dict[str, str], routes: tuple[str, ...]) -> EdiRoutes:
    """Read the test plugin into `bots` and activate `routes`, with the engine's environment.

    The environment matters: init-db's settings.py reads BOTS_DB_* variables, so the plugin
    must be read with exactly the variables the engine will see.
    """
    done = subprocess.run(
        [
            str(bots_python()),
            str(EDI / "install_plugin.py"),
            f"-c{bots.config}",
            "--index",
            generation().plugin_index,
            "--activate",
            ",".join(routes),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(info["active_routes"]) == sorted(routes), info
    return EdiRoutes(bots, info["folders"], tuple(routes), str(info["bots_version"]))


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by name and label set."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = float(sample.value)
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample `name` whose labels include `labels` (exactly one must match), or None."""
    found = [
        v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= dict(ls).items()
    ]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def series(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample `name` whose labels include `labels`."""
    return {
        ls: v
        for (n, ls), v in samples.items()
        if n == name and set(labels.items()) <= dict(ls).items()
    }


def scrape(url: str) -> str:
    """The body of GET `url`."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode())


def promtool_check(text: str) -> str:
    """`promtool check metrics` on an exposition; returns its complaints ("" when none)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus"
    done = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return (done.stdout + done.stderr).strip()


def webserver_metrics(run_runtime: StartRuntime, bots: BotsDir, env: dict[str, str]) -> str:
    """Start the webserver under the runtime, return /metrics once the EDI gauges are in."""
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots.env(**env))

    def read(rt: RuntimeProcess) -> str | None:
        body = rt.text("/metrics")
        return body if 'bots_runtime_collector_duration_seconds{collector="edi"}' in body else None

    text: str = runtime.wait_for(read, timeout=30)
    runtime.wait_status("/readyz", 200, timeout=30)  # stopped while starting, Bots exits 130
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0, runtime.output()
    return text
