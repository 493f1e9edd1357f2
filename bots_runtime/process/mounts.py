"""The mount table: which file system holds a path, and whether inotify sees all its writes.

inotify, which Bots' dirmonitor watches folders with, only reports changes that pass through
this kernel's own mount. On a network file system (NFS, CIFS/SMB, CephFS, ...) or a FUSE one,
files written by other clients (another node, the file server, the FUSE daemon's back end)
arrive without any event. The mount point and the file system type are read from the kernel's
own table (proc(5), "/proc/pid/mountinfo"), never guessed from the path. Stdlib only: the
catalogue reads it before the child starts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MOUNTINFO = "/proc/self/mountinfo"

#: File system types whose contents other machines or processes can change without this
#: kernel's inotify seeing it, with the family named in messages. FUSE (`fuse`, `fuse.*`) is
#: matched below: its daemon's back end (a server, a bucket, another folder) changes behind
#: the mount. `fuseblk` is FUSE on a local disk (ntfs-3g): every write passes this kernel.
REMOTE_TYPES: Mapping[str, str] = {
    "nfs": "a network file system",
    "nfs4": "a network file system",
    "cifs": "a network file system (SMB)",
    "smb3": "a network file system (SMB)",
    "smbfs": "a network file system (SMB)",
    "ncpfs": "a network file system",
    "afs": "a network file system",
    "9p": "a network file system (9P)",
    "ceph": "a network file system (CephFS)",
    "glusterfs": "a network file system (GlusterFS)",
    "lustre": "a network file system (Lustre)",
    "gpfs": "a cluster file system (GPFS)",
    "beegfs": "a cluster file system (BeeGFS)",
    "gfs2": "a cluster file system",
    "ocfs2": "a cluster file system",
    "virtiofs": "a file system shared with the host (virtiofs)",
}
_FUSE = "a FUSE file system"
_OCTAL = re.compile(r"\\([0-7]{3})")


class MountInfoError(ValueError):
    """A mountinfo line that does not have the fields proc(5) promises."""


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of mountinfo: the fields needed to find and classify a path's mount."""

    mount_id: int
    parent_id: int
    device: str
    root: str
    mount_point: str
    fstype: str
    source: str

    @property
    def remote(self) -> str | None:
        """The kind of file system when writes elsewhere go unseen by inotify, else None."""
        return remote_kind(self.fstype)


def remote_kind(fstype: str) -> str | None:
    """'a network file system', 'a FUSE file system', ... for `fstype`; None when local."""
    if fstype == "fuse" or fstype.startswith("fuse."):
        return _FUSE
    return REMOTE_TYPES.get(fstype)


def unescape(field: str) -> str:
    r"""Undo the kernel's octal escapes of space, tab, newline and backslash (`\040`)."""
    return _OCTAL.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse_line(line: str) -> Mount:
    """One mountinfo line; `MountInfoError` when it is not one.

    Layout: id, parent id, major:minor, root, mount point, options, optional fields ending
    with a lone `-`, then file system type, source and super-block options.
    """
    fields = line.split()
    try:
        separator = fields.index("-", 6)
        return Mount(
            mount_id=int(fields[0]),
            parent_id=int(fields[1]),
            device=fields[2],
            root=unescape(fields[3]),
            mount_point=unescape(fields[4]),
            fstype=fields[separator + 1],
            source=unescape(fields[separator + 2]) if len(fields) > separator + 2 else "",
        )
    except (ValueError, IndexError):
        raise MountInfoError(f"not a mountinfo line: {line.strip()[:120]!r}") from None


def parse(text: str) -> tuple[Mount, ...]:
    """Every line of a mountinfo file, in the kernel's order (mount order)."""
    return tuple(parse_line(line) for line in text.splitlines() if line.strip())


def read(path: str = MOUNTINFO) -> tuple[Mount, ...]:
    """The mount table of this process's mount namespace; `OSError` when /proc is missing."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return parse(handle.read())


def _under(path: str, mount_point: str) -> bool:
    return mount_point in {"/", path} or path.startswith(mount_point + "/")


def mount_of(path: str, mounts: Sequence[Mount]) -> Mount | None:
    """The mount that holds `path` (which need not exist yet), or None for an empty table.

    The path is made absolute with its symbolic links resolved, as the kernel walks it; the
    deepest mount point above it wins. Of several mounts on one point the topmost wins: the
    one no other mount on that point sits on (mounted later, it hides the ones below).
    """
    real = os.path.realpath(path)
    holders = [m for m in mounts if _under(real, m.mount_point)]
    if not holders:
        return None
    deepest = max(len(m.mount_point) for m in holders)
    stacked = [m for m in holders if len(m.mount_point) == deepest]
    below = {m.parent_id for m in stacked}
    top = [m for m in stacked if m.mount_id not in below]
    return (top or stacked)[-1]
