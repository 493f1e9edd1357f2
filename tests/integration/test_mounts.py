"""The mount-table reader on real mounts, with util-linux's findmnt as the referee: this
machine's own mounts, then a private mount namespace with a FUSE mount (fuse-overlayfs), a
mount point with a space in its name and a tmpfs stacked over another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from bots_runtime.process import mounts
from tests.support.mountns import FuseNamespace, mountns_works

if TYPE_CHECKING:
    from pathlib import Path


def findmnt(path: str) -> tuple[str, str]:
    """(mount point, file system type) of the mount holding `path`, as findmnt sees it; of
    mounts stacked on one point it lists every one, the topmost last."""
    done = subprocess.run(
        ["findmnt", "--json", "--output", "TARGET,FSTYPE", "--target", path],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    entry = json.loads(done.stdout)["filesystems"][-1]
    return entry["target"], entry["fstype"]


def device(path: str) -> str:
    """The kernel's own answer for a folder: the `major:minor` of the file system it is on."""
    st = os.stat(path)
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


def ours(path: str) -> tuple[str, str]:
    found = mounts.mount_of(path, mounts.read())
    assert found is not None, path
    return found.mount_point, found.fstype


def test_this_machines_mounts_agree_with_findmnt(tmp_path: Path) -> None:
    """/, /proc, /sys, /dev/shm (two tmpfs stacked there on this machine), /dev/pts and a
    temporary folder: findmnt's mount point and type, and the device of the folder itself."""
    folders = ["/", "/proc/self", "/sys/kernel", "/dev/shm", "/dev/pts", str(tmp_path)]
    table = mounts.read()
    for folder in folders:
        found = mounts.mount_of(folder, table)
        assert found is not None, folder
        assert (found.mount_point, found.fstype) == findmnt(folder), folder
        assert found.device == device(folder), folder
    assert ours(str(tmp_path / "not" / "yet")) == findmnt(str(tmp_path))
    assert ours("/proc/self/status")[1] == "proc"
    assert all(mounts.mount_of(f, table).remote is None for f in folders)  # type: ignore[union-attr]


# Run inside the namespace: stack a tmpfs over another, then print ours and findmnt's answer
# for each path, plus the remote kind.
PROBE = r"""
import json, os, subprocess, sys
from bots_runtime.process import mounts
fuse, stack = sys.argv[1], sys.argv[2]
for source in ("under", "over"):
    subprocess.run(["mount", "-t", "tmpfs", source, stack], check=True)
table = mounts.read()
out = {}
for path in (fuse, fuse + "/in/file", stack + "/x"):
    mine = mounts.mount_of(path, table)
    there = path  # findmnt needs a path that exists: its nearest existing folder
    while not os.path.exists(there):
        there = os.path.dirname(there)
    ref = json.loads(subprocess.run(
        ["findmnt", "--json", "--output", "TARGET,FSTYPE,SOURCE", "--target", there],
        capture_output=True, text=True, check=True).stdout)["filesystems"][-1]
    st = os.stat(there)
    out[path] = {"ours": [mine.mount_point, mine.fstype, mine.source, mine.remote],
                 "findmnt": [ref["target"], ref["fstype"], ref["source"]],
                 "device": [mine.device, f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"]}
print(json.dumps(out))
"""


@pytest.mark.mountns
@pytest.mark.skipif(
    not mountns_works(), reason="a private FUSE mount needs root and fuse-overlayfs"
)
def test_fuse_mount_in_a_private_namespace(tmp_path: Path) -> None:
    """1. A new mount namespace gets a FUSE mount at `.../fuse mnt` (a space in the name) and
    two tmpfs on one point. 2. For a path on each, the reader gives findmnt's mount point, type
    and source, and the device the kernel reports for the folder. 3. The FUSE one is named
    remote, the tmpfs not; of the stacked tmpfs the one mounted last (on top) wins."""
    space = tmp_path / "fuse mnt"
    stack = tmp_path / "stack"
    stack.mkdir()
    ns = FuseNamespace(space, tmp_path / "fuse")
    try:
        done = subprocess.run(
            [*ns.prefix(), sys.executable, "-c", PROBE, str(space), str(stack)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        ns.close()
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    for answer in seen.values():
        assert answer["ours"][:3] == answer["findmnt"], seen
        assert answer["device"][0] == answer["device"][1], seen
    fuse = seen[str(space)]["ours"]
    assert fuse[:2] == [str(space), "fuse.fuse-overlayfs"]
    assert fuse[3] == "a FUSE file system"
    assert seen[str(space) + "/in/file"]["ours"] == fuse
    assert seen[str(stack) + "/x"]["ours"] == [str(stack), "tmpfs", "over", None]
    # Nothing of it leaked into this test's own mount namespace.
    assert ours(str(space)) == findmnt(str(tmp_path))
