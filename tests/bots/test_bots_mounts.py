"""A watched folder on a FUSE mount (a real one, in a private mount namespace) is named as a
warning by `bots-runtime check dirmonitor` and in the dirmonitor's readiness output, without
failing readiness; a folder on the local disk next to it gets no warning."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from typing import TYPE_CHECKING

import pytest

from tests.bots.kit import BOTS_PYTHON, ROOT, BotsDir, StartRuntime
from tests.support.mountns import FuseNamespace, mountns_works

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.bots,
    pytest.mark.mountns,
    pytest.mark.skipif(not mountns_works(), reason="a private FUSE mount needs root"),
]
WARNING = (
    "is on fuse.fuse-overlayfs, a FUSE file system (mounted at {mount}): bots-dirmonitor"
    " watches with inotify and does not see files that other clients write there; the"
    " scheduled engine run still picks them up"
)


@pytest.fixture(name="fuse")
def _fuse(bots_dir: BotsDir) -> Iterator[FuseNamespace]:
    """[dirmonitor1] inside a FUSE mount, [dirmonitor2] on the local disk."""
    ns = FuseNamespace(bots_dir.root / "remote", bots_dir.root / ".fuse")
    bots_dir.enable_jobqueue()
    (bots_dir.root / "local").mkdir()
    for section, path in (
        ("dirmonitor1", ns.mount_point),
        ("dirmonitor2", bots_dir.root / "local"),
    ):
        bots_dir.set(section, "path", str(path))
        bots_dir.set(section, "route", "")
    try:
        yield ns
    finally:
        ns.close()


def test_check_names_the_fuse_folder(bots_dir: BotsDir, fuse: FuseNamespace) -> None:
    """`check dirmonitor` prints one warning line, for the FUSE folder only, and exits 0."""
    done = subprocess.run(
        [*fuse.prefix(), BOTS_PYTHON, "-m", "bots_runtime", "check", "dirmonitor"],
        cwd=ROOT,
        env=bots_dir.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    expected = WARNING.format(mount=fuse.mount_point)
    assert warnings == [f"warning: watch-dirmonitor1: {fuse.mount_point} {expected}"]


def test_check_outside_the_namespace_has_no_warning(bots_dir: BotsDir, fuse: FuseNamespace) -> None:
    """The same configuration where the folder is a plain directory: no warning at all."""
    fuse.mount_point.mkdir()
    done = subprocess.run(
        [BOTS_PYTHON, "-m", "bots_runtime", "check", "dirmonitor"],
        cwd=ROOT,
        env=bots_dir.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stdout


@pytest.mark.slow
def test_readiness_warns_but_passes(
    run_runtime: StartRuntime, bots_dir: BotsDir, fuse: FuseNamespace
) -> None:
    """1. bots-dirmonitor runs under the runtime in the namespace. 2. /readyz is 200. 3. The
    verbose body marks the FUSE folder's check `ok (warning: ...)`, the local one plain `ok`.
    4. The JSON verdict carries the same warning on that check only. (The job queue runs
    beside it, as in the dirmonitor's pod: Bots 4.0's dirmonitor does not start without it.)"""
    queue = run_runtime(["jobqueueserver"], bots_dir.env())
    queue.wait_status("/readyz", 200, timeout=30)
    runtime = run_runtime(
        ["--drain-delay", "0", "dirmonitor"], bots_dir.env(), prefix=fuse.prefix()
    )
    runtime.wait_status("/readyz", 200, timeout=30)
    body = runtime.text("/readyz?verbose")
    expected = WARNING.format(mount=fuse.mount_point)
    assert f"[+]watch-dirmonitor1 ok (warning: {fuse.mount_point} {expected})" in body
    assert "[+]watch-dirmonitor2 ok\n" in body
    request = urllib.request.Request(
        f"http://127.0.0.1:{runtime.port}/readyz", headers={"Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=2) as reply:
        assert reply.status == 200
        verdict = json.loads(reply.read())
    warned = {c["name"]: c.get("warning") for c in verdict["checks"]}
    assert warned["watch-dirmonitor1"] == f"{fuse.mount_point} {expected}"
    assert warned["watch-dirmonitor2"] is None
