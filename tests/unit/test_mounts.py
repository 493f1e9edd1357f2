"""The mountinfo parser and the "which mount holds this path" rule, on real mountinfo lines.

The lines come from this project's build machine (ext4 root, a bind mount with a propagation
tag, a FUSE mount made with fuse-overlayfs, a mount point with a space) and from proc(5)'s own
example; the NFS line has the shape a Kubernetes node shows for an NFSv4 volume (Longhorn RWX,
EFS). tests/integration/test_mounts.py holds the reader to findmnt on real mounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bots_runtime.process import mounts

if TYPE_CHECKING:
    from pathlib import Path

ROOT = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534"
BIND = (
    "46 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda"
    " rw,discard,resv_strict,resuid=65534,resgid=65534"
)
FUSE = (
    "68 47 0:40 / /tmp/fz/merged rw,nodev,noatime - fuse.fuse-overlayfs fuse-overlayfs"
    " rw,user_id=0,group_id=0,default_permissions,allow_other"
)
SPACE = "70 47 0:42 / /tmp/in\\040box rw,relatime - tmpfs my\\040tmp rw"
PROC5 = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
NFS = (
    "612 590 0:311 / /var/lib/bots rw,relatime shared:301 - nfs4"
    " 10.43.12.7:/pvc-3f1c rw,vers=4.1,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,"
    "timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.5,local_lock=none,addr=10.43.12.7"
)


class TestParseLine:
    def test_fields_of_the_root_line(self) -> None:
        """Id, parent, device, root, mount point, type and source, as proc(5) lays them out."""
        mount = mounts.parse_line(ROOT)
        assert mount == mounts.Mount(27, 1, "254:0", "/", "/", "ext4", "/dev/vda")

    def test_optional_fields_before_the_separator(self) -> None:
        """`shared:1` / `master:1` sit between the options and the lone `-`."""
        assert mounts.parse_line(BIND).fstype == "ext4"
        assert mounts.parse_line(BIND).root == "/run/netns"
        proc5 = mounts.parse_line(PROC5)
        assert (proc5.root, proc5.mount_point, proc5.fstype) == ("/mnt1", "/mnt2", "ext3")

    def test_octal_escapes_are_undone(self) -> None:
        """A space in a mount point or source arrives as `\\040`."""
        mount = mounts.parse_line(SPACE)
        assert mount.mount_point == "/tmp/in box"
        assert mount.source == "my tmp"
        assert mounts.unescape("a\\011b\\012c\\134d") == "a\tb\nc\\d"

    def test_fuse_and_nfs_types(self) -> None:
        """The file system type is the field after the separator, subtype included."""
        assert mounts.parse_line(FUSE).fstype == "fuse.fuse-overlayfs"
        nfs = mounts.parse_line(NFS)
        assert (nfs.fstype, nfs.source, nfs.mount_point) == (
            "nfs4",
            "10.43.12.7:/pvc-3f1c",
            "/var/lib/bots",
        )

    @pytest.mark.parametrize(
        "line",
        ["", "27 1 254:0 / / rw,relatime ext4 /dev/vda rw", "x 1 254:0 / / rw - ext4 /dev/vda rw"],
    )
    def test_malformed_lines_are_refused(self, line: str) -> None:
        """No separator, a missing type or a non-numeric id: MountInfoError, not a guess."""
        with pytest.raises(mounts.MountInfoError):
            mounts.parse_line(line)

    def test_parse_skips_blank_lines_only(self) -> None:
        table = mounts.parse(f"{ROOT}\n\n{FUSE}\n")
        assert [m.mount_id for m in table] == [27, 68]


class TestRemoteKind:
    @pytest.mark.parametrize(
        ("fstype", "kind"),
        [
            ("nfs", "a network file system"),
            ("nfs4", "a network file system"),
            ("cifs", "a network file system (SMB)"),
            ("smb3", "a network file system (SMB)"),
            ("ceph", "a network file system (CephFS)"),
            ("fuse", "a FUSE file system"),
            ("fuse.sshfs", "a FUSE file system"),
            ("fuse.fuse-overlayfs", "a FUSE file system"),
            ("virtiofs", "a file system shared with the host (virtiofs)"),
        ],
    )
    def test_remote_types(self, fstype: str, kind: str) -> None:
        """Types whose writes from elsewhere inotify does not report."""
        assert mounts.remote_kind(fstype) == kind

    @pytest.mark.parametrize(
        "fstype", ["ext4", "xfs", "btrfs", "tmpfs", "overlay", "fuseblk", "proc", "fusectl"]
    )
    def test_local_types(self, fstype: str) -> None:
        """Local disks, tmpfs, the container's overlay root and FUSE on a local disk."""
        assert mounts.remote_kind(fstype) is None


class TestMountOf:
    LINES = (
        ROOT,
        "47 27 0:50 / /tmp rw - tmpfs tmpfs rw",
        "60 47 0:51 / /tmp/data rw - tmpfs first rw",
        "61 60 0:52 / /tmp/data rw - nfs4 srv:/x rw",
        "62 47 0:53 / /tmp/database rw - tmpfs other rw",
    )
    TABLE = tuple(mounts.parse_line(line) for line in LINES)

    def test_deepest_mount_point_wins(self) -> None:
        """/tmp/x is on /tmp, / itself on the root, /tmp/database not on /tmp/data."""
        ids = [mounts.mount_of(p, self.TABLE) for p in ("/tmp/x", "/", "/tmp/database/in")]
        assert [m.mount_id if m else None for m in ids] == [47, 27, 62]

    def test_the_topmost_of_stacked_mounts_wins(self) -> None:
        """An NFS mount over a tmpfs on the same point hides it: the path is on NFS, whatever
        the order of the lines (the parent link decides, not the position)."""
        for table in (self.TABLE, self.TABLE[::-1]):
            found = mounts.mount_of("/tmp/data/in/file", table)
            assert found is not None
            assert (found.mount_id, found.remote) == (61, "a network file system")

    def test_a_path_that_does_not_exist_yet(self) -> None:
        """The watched folder may be created later: its would-be mount is the answer."""
        found = mounts.mount_of("/tmp/data/not/yet/there", self.TABLE)
        assert found is not None
        assert found.fstype == "nfs4"

    def test_symbolic_links_are_followed(self, tmp_path: Path) -> None:
        """A link elsewhere is judged by where it points, as the kernel resolves it."""
        real = tmp_path.resolve()
        table = mounts.parse(f"{ROOT}\n70 27 0:60 / {real}/remote rw - nfs srv:/y rw")
        (tmp_path / "remote").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "remote")
        found = mounts.mount_of(str(tmp_path / "link" / "in"), table)
        assert found is not None
        assert found.fstype == "nfs"

    def test_empty_table(self) -> None:
        assert mounts.mount_of("/tmp", ()) is None
