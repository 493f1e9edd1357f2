"""The ConfigMap's bots.ini and settings.py work with the real runtime and Bots (3.3.1 in CI;
`BOTS_RUNTIME_TEST_BOTS_VENV` names another, as for tests/bots), and the grace periods cover
the stop budgets that `bots-runtime check` prints for that configuration."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import initdb
from tests.bots.kit import BOTS_PYTHON

from . import kube

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.bots
CONFIG = kube.K8S / "base" / "config"
SERVICES = ("webserver", "jobqueueserver", "dirmonitor", "engine")


def runtime(args: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    """`bots-runtime ARGS` with the data folder's config, in the Bots under test's venv."""
    env = dict(os.environ, BOTS_CONFIG_DIR=str(data / "config"), PYTHONPATH=str(kube.REPO))
    env.pop("BOTS_DB_ENGINE", None)
    return subprocess.run(
        [BOTS_PYTHON, "-m", "bots_runtime", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def make_data(where: Path, ini_folder: str) -> Path:
    """A data folder laid out as in the pod: the ConfigMap's files as config/, the rest by
    init-db. bots.ini names /var/lib/bots/botssys (absolute); here it points into `where`."""
    (where / "config").mkdir(parents=True)
    ini = (kube.K8S / "base" / ini_folder / "bots.ini").read_text(encoding="utf-8")
    assert "/var/lib/bots/" in ini
    (where / "config" / "bots.ini").write_text(
        ini.replace("/var/lib/bots/", f"{where}/"), encoding="utf-8"
    )
    for name in ("settings.py", "__init__.py"):
        (where / "config" / name).write_text(
            (CONFIG / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    done = runtime(["init-db"], where)
    assert done.returncode == 0, done.stdout + done.stderr
    (where / "botssys" / "infile" / "dirmonitor").mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture(scope="module", name="folders")
def _folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default config (webserver, engine, init-db) and the job-queue variant."""
    return {
        "config": make_data(tmp_path_factory.mktemp("bots-data"), "config"),
        "config-jobqueue": make_data(tmp_path_factory.mktemp("bots-queue"), "config-jobqueue"),
    }


@pytest.fixture(name="data")
def _data(folders: dict[str, Path]) -> Path:
    return folders["config"]


def folder_for(service: str, folders: dict[str, Path]) -> Path:
    """The data folder whose config the service's pods mount (the dirmonitor pod, with its
    jobqueueserver, has the job-queue variant)."""
    queue = service in {"jobqueueserver", "dirmonitor"}
    return folders["config-jobqueue" if queue else "config"]


def test_init_db_keeps_the_configmap_files(data: Path) -> None:
    """init-db adds what is missing (database, botssys, usersys) and writes nothing into the
    config folder, which is a read-only ConfigMap mount in the pods."""
    assert sorted(p.name for p in (data / "config").iterdir()) == [
        "__init__.py",
        "bots.ini",
        "settings.py",
    ]
    assert (data / "botssys" / "sqlitedb" / "botsdb").stat().st_size > 0
    assert (data / "usersys").is_dir()
    text = (data / "config" / "settings.py").read_text(encoding="utf-8")
    assert text == (CONFIG / "settings.py").read_text(encoding="utf-8")
    again = runtime(["init-db"], data)
    assert again.returncode == 0
    assert "nothing to do" in again.stdout + again.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_accepts_the_configuration(folders: dict[str, Path], service: str) -> None:
    """`bots-runtime check SERVICE` finds no problem in the configuration its pods mount (the
    job queue enabled for jobqueueserver and dirmonitor, the dirmonitor section has path and
    route, botssys is absolute)."""
    done = runtime(["check", service], folder_for(service, folders))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module", name="budgets")
def _budgets(folders: dict[str, Path]) -> dict[str, float]:
    """drain + stop budget of each service, as `bots-runtime check SERVICE` reports it."""
    out = {}
    for service in SERVICES:
        done = runtime(["check", service], folder_for(service, folders))
        match = re.search(r"budget \(drain \+ stop\): ([0-9.]+)s", done.stdout)
        assert match, done.stdout
        out[service] = float(match.group(1))
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_grace_period_covers_the_reported_budget(
    budgets: dict[str, float], rendered: dict[str, list[kube.Obj]], service: str
) -> None:
    """terminationGracePeriodSeconds of every pod that runs the service > the pod's budget from
    the reported ones: its longest main container's plus each sidecar's (they stop after the
    main containers, one by one)."""
    checked = 0
    for _, template in kube.workloads(rendered["all-components"]):
        if service not in {c["args"][0] for c in kube.runtimes(template)}:
            continue
        main = max(budgets.get(c["args"][0], 0.0) for c in kube.containers(template))
        budget = main + sum(budgets[c["args"][0]] for c in kube.sidecars(template))
        grace = template["spec"]["terminationGracePeriodSeconds"]
        assert grace > budget, (grace, budget)
        checked += 1
    assert checked


def test_postgresql_settings_come_from_the_environment(data: Path) -> None:
    """With BOTS_DB_ENGINE=postgresql and BOTS_DB_* set, settings.py names that server."""
    env = dict(
        os.environ,
        BOTS_DB_ENGINE="postgresql",
        BOTS_DB_HOST="db.example",
        BOTS_DB_PORT="5433",
        BOTS_DB_NAME="edi",
        BOTS_DB_USER="bots",
        BOTS_DB_PASSWORD="pw",
    )
    script = (
        "import runpy, sys; g = runpy.run_path(sys.argv[1]); d = g['DATABASES']['default'];"
        " print(d['ENGINE'], d['HOST'], d['PORT'], d['NAME'], d['USER'])"
    )
    done = subprocess.run(
        [BOTS_PYTHON, "-c", script, str(data / "config" / "settings.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "django.db.backends.postgresql_psycopg2",
        "db.example",
        "5433",
        "edi",
        "bots",
    ]


def test_default_config_leaves_gui_runs_to_the_webserver(data: Path) -> None:
    """With the default config (job queue disabled) the jobqueueserver is refused, naming the
    key: the webserver's GUI runs start the engine directly instead of queueing it."""
    done = runtime(["check", "jobqueueserver"], data)
    assert done.returncode == 78
    assert "[jobqueue] enabled" in done.stderr


def test_settings_carry_init_dbs_host_and_proxy_block() -> None:
    """The ConfigMap's settings.py has init-db's host and proxy block, word for word (the origin
    format taken from the Bots it runs under), so
    BOTS_ALLOWED_HOSTS, BOTS_CSRF_TRUSTED_ORIGINS and the proxy header mean the same in the
    pods as in a folder init-db made (tests/bots/test_bots_proxy.py logs in through it)."""
    text = (CONFIG / "settings.py").read_text(encoding="utf-8")
    assert initdb.proxy_block("_BOTS4") in text  # the ConfigMap asks which Bots it runs under
    assert "ALLOWED_HOSTS = ['*']" not in text


def test_settings_fit_the_bots_generation(data: Path) -> None:
    """Evaluated by the Django of the Bots under test: both names of botssys point at the
    folder next to config/, USE_TZ is off (Bots' engine works in local time) and the trusted
    origins are in that Django's own format."""
    script = (
        "import json, runpy, sys, django; g = runpy.run_path(sys.argv[1]);"
        " print(json.dumps([g['BOTSSYS'], g['BOTSSYS_PATH'], g['USE_TZ'],"
        " g['CSRF_TRUSTED_ORIGINS'], django.VERSION[0]]))"
    )
    done = subprocess.run(
        [BOTS_PYTHON, "-c", script, str(data / "config" / "settings.py")],
        env=dict(os.environ, BOTS_CSRF_TRUSTED_ORIGINS="https://bots.example.com"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    botssys, botssys_path, use_tz, origins, major = json.loads(done.stdout)
    assert botssys == botssys_path == str(data / "botssys")
    assert use_tz is False
    assert origins == ["https://bots.example.com" if major >= 4 else "bots.example.com"]
