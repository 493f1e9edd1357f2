"""The shared-file lock seen from outside: another process holding it is found, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bots_runtime.process.lock import RunLock, held_elsewhere

ROOT = Path(__file__).resolve().parents[2]


def test_held_by_another_process_then_free(tmp_path: Path) -> None:
    """1. Another process takes the lock: `held_elsewhere` says so, and the file is unchanged.
    2. It lets go: the lock is free again, and the probe took nothing (the lock can be taken).
    """
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys; from bots_runtime.process.lock import RunLock;"
                f"lock = RunLock({str(path)!r}); lock.acquire(); print('held', flush=True);"
                " sys.stdin.read()"
            ),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        before = path.read_bytes(), path.stat().st_mtime_ns
        assert held_elsewhere(str(path)) is True
        assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()
    assert held_elsewhere(str(path)) is False
    lock = RunLock(str(path))
    lock.acquire()
    lock.release()


def test_missing_file_is_not_held(tmp_path: Path) -> None:
    """No lock file: nobody holds it, and the probe does not create one."""
    assert held_elsewhere(str(tmp_path / "none.lock")) is False
    assert not (tmp_path / "none.lock").exists()
