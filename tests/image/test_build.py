"""The Dockerfile's choices (BOTS_VERSION, BOTS_SOURCE, BOTS_DB_DRIVERS): a Bots from a source
tree or a wheel folder in the build context, the MySQL driver with its client library in the
final stage only, labels that say what the image holds, and one-line refusals of bad choices.

The trees and wheels are Bots 3.3.1 from PyPI (the sdist unpacked, the wheel as downloaded),
put into container/vendor/ (git ignores it) for one build and removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import uuid
from typing import TYPE_CHECKING

import pytest

from .podman import BASE_IMAGE, CONTAINER_DIR, IMAGE, Podman, podman_env

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow
ADDED_LIMIT = 110 * 1000 * 1000
VENDOR = CONTAINER_DIR / "vendor"


def build(tag: str, **args: str) -> subprocess.CompletedProcess[str]:
    """container/build-image.sh TAG with build arguments from the environment."""
    return subprocess.run(
        [str(CONTAINER_DIR / "build-image.sh"), tag],
        env=dict(podman_env(), BOTS_BASE_IMAGE=BASE_IMAGE, **args),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def labels(podman: Podman, tag: str) -> dict[str, str]:
    found: dict[str, str] = podman.inspect(tag)["Labels"]
    return {k.removeprefix("bots-runtime."): v for k, v in found.items() if "bots-runtime." in k}


def in_image(podman: Podman, tag: str, script: str) -> str:
    done = podman.run("run", "--rm", "--entrypoint", "sh", tag, "-c", script, check=False)
    return done.stdout


def download(what: str, where: Path, *, sdist: bool) -> Path:
    """bots-ediint 3.3.1 from PyPI into `where`: the sdist or the wheel."""
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "-d", str(where), what],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    (found,) = where.iterdir()
    return found


@pytest.fixture(name="vendor")
def _vendor(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder below container/vendor/ named after the test, removed afterwards. The same
    name and content next time hit podman's layer cache instead of rebuilding every wheel."""
    folder = VENDOR / f"test-{request.node.name.removeprefix('test_')}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.fixture(name="variant")
def _variant(podman: Podman) -> Iterator[str]:
    """The tag of a variant image, removed afterwards (its layers stay cached)."""
    tag = f"{IMAGE}-variant-{uuid.uuid4().hex[:6]}"
    try:
        yield tag
    finally:
        podman.run("rmi", "-f", tag, check=False)


def test_bots_from_a_source_tree_with_the_mysql_driver(
    podman: Podman, vendor: Path, variant: str, tmp_path: Path
) -> None:
    """1. Bots 3.3.1's source tree sits below container/vendor/. 2. The build takes it with
    BOTS_SOURCE and adds mysqlclient next to psycopg2. 3. The labels say so. 4. Both drivers
    import in the image (libmariadb loads), while no compiler, header or apt list is left, and
    the image stays within the size budget."""
    sdist = download("bots-ediint==3.3.1", tmp_path, sdist=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "tree", filter="data")
    (top,) = (tmp_path / "tree").iterdir()
    shutil.copytree(top, vendor / "bots")
    source = f"container/vendor/{vendor.name}/bots"
    done = build(variant, BOTS_SOURCE=source, BOTS_DB_DRIVERS="psycopg2 mysqlclient")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert labels(podman, variant) == {
        "bots.version": "3.3.1",
        "bots.source": source,
        "db-drivers": "psycopg2 mysqlclient",
    }
    out = in_image(
        podman,
        variant,
        "python -c 'import MySQLdb, psycopg2, django, importlib.metadata as m;"
        ' print(m.version("bots-ediint"), django.get_version(), MySQLdb.version_info[0])\';'
        " command -v gcc cc pkg-config mysql_config;"
        " find /usr/include/mariadb /usr/include/mysql /var/lib/apt/lists -mindepth 1"
        " 2>/dev/null;"
        " echo end",
    )
    assert out.split() == ["3.3.1", "2.2.28", "2", "end"], out
    base = int(podman.run("image", "inspect", "-f", "{{.Size}}", BASE_IMAGE).stdout)
    size = int(podman.run("image", "inspect", "-f", "{{.Size}}", variant).stdout)
    print(f"with mysqlclient: {size / 1e6:.1f} MB, added {(size - base) / 1e6:.1f} MB")
    assert 0 < size - base <= ADDED_LIMIT


def test_bots_from_a_wheel_folder(podman: Podman, vendor: Path, variant: str) -> None:
    """A folder holding the bots-ediint wheel is a BOTS_SOURCE too; SQLite only (none)."""
    download("bots-ediint==3.3.1", vendor, sdist=False)
    source = f"container/vendor/{vendor.name}"
    done = build(variant, BOTS_SOURCE=source, BOTS_DB_DRIVERS="none")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert labels(podman, variant)["db-drivers"] == "none"
    out = in_image(
        podman,
        variant,
        "python -c 'import importlib.metadata as m; print(m.version(\"bots-ediint\"))';"
        " python -c 'import psycopg2' 2>/dev/null || echo no-psycopg2",
    )
    assert out.split() == ["3.3.1", "no-psycopg2"], out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"BOTS_DB_DRIVERS": "oracle"},
            (
                "BOTS_DB_DRIVERS: unknown driver 'oracle'; expected some of: psycopg2 psycopg"
                " mysqlclient (or none)"
            ),
        ),
        (
            {"BOTS_DB_DRIVERS": "psycopg"},
            "BOTS_DB_DRIVERS: psycopg does not work with Bots 3.3.1 (only with Bots 4)",
        ),
        (
            {"BOTS_VERSION": "4.0.0", "BOTS_SOURCE": "bots-ediint==3.3.1"},
            (
                "BOTS_SOURCE=bots-ediint==3.3.1 holds bots-ediint 3.3.1, not BOTS_VERSION=4.0.0:"
                " pass --build-arg BOTS_VERSION=3.3.1"
            ),
        ),
        (
            {"BOTS_SOURCE": "bots/"},
            "BOTS_SOURCE=bots/: a path must be below container/vendor/",
        ),
        (
            {"BOTS_SOURCE": "container/vendor/missing"},
            (
                "BOTS_SOURCE=container/vendor/missing: not in the build context, or neither a"
                " source tree"
            ),
        ),
    ],
    ids=["unknown-driver", "psycopg3-on-bots3", "version-mismatch", "outside-vendor", "missing"],
)
def test_bad_choices_fail_the_build_in_one_line(
    variant: str, args: dict[str, str], message: str
) -> None:
    """Each bad build argument stops the build with one line naming it."""
    done = build(variant, **args)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("bots-runtime image:")]
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"bots-runtime image: {message}"), lines
