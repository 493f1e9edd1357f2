"""A private mount namespace with a real FUSE mount (fuse-overlayfs), for the mount-table tests.

`unshare --mount --propagation private` keeps every mount made inside away from the machine.
fuse-overlayfs runs in the foreground from a subshell, so it is nobody's child in particular
(a runtime started in the namespace must not wait for it as a leftover); its pid is written
to a file and `FuseNamespace.close` ends it by that pid, which drops the mount and, with the
last process gone, the namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

# $1 mount point, $2 work folder (lower/upper/work), $3 pid file; the rest is the command.
SCRIPT = r"""
set -eu
mnt=$1 base=$2 pidfile=$3
shift 3
mkdir -p "$base/lower" "$base/upper" "$base/work" "$mnt"
( fuse-overlayfs -f -o "lowerdir=$base/lower,upperdir=$base/upper,workdir=$base/work" "$mnt" \
    </dev/null >"$base/fuse.log" 2>&1 & echo $! >"$pidfile" )
i=0
until mountpoint -q "$mnt"; do
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then echo "the FUSE mount did not appear" >&2; exit 1; fi
    sleep 0.05
done
exec "$@"
"""


def mountns_works() -> bool:
    """Root, unshare, fuse-overlayfs and /dev/fuse: what a private FUSE mount needs."""
    return (
        os.geteuid() == 0
        and shutil.which("unshare") is not None
        and shutil.which("fuse-overlayfs") is not None
        and shutil.which("mountpoint") is not None
        and Path("/dev/fuse").exists()
    )


@dataclass
class FuseNamespace:
    """Where the FUSE mount goes, and the command prefix that makes it."""

    mount_point: Path
    base: Path

    @property
    def pid_file(self) -> Path:
        return self.base / "fuse.pid"

    def prefix(self) -> tuple[str, ...]:
        """Put before a command: it then runs in a new mount namespace with the FUSE mount."""
        return (
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
            "sh",
            str(self.mount_point),
            str(self.base),
            str(self.pid_file),
        )

    def close(self) -> None:
        """End the FUSE daemon we started (checked by its name), waiting up to 5 s."""
        try:
            pid = int(self.pid_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return
        comm = Path(f"/proc/{pid}/comm")
        try:
            if comm.read_text(encoding="ascii").strip() != "fuse-overlayfs":
                return
            os.kill(pid, signal.SIGTERM)
        except (OSError, ProcessLookupError):
            return
        deadline = time.monotonic() + 5
        while comm.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
