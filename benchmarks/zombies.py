"""Zombies: the supervisor as PID 1 of a new PID namespace, and orphans that exit together.

The child forks a middle process that forks N sleepers and exits, so the sleepers are
re-parented to PID 1 (the supervisor). They all exit at one monotonic instant, reported by
the child; zombies under the namespace are counted 0.25 s and 1 s after it. The namespace
is ended by SIGKILL to its PID 1, which takes every process in it down.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from typing import TYPE_CHECKING

from benchmarks import procfs
from benchmarks.events import BenchError
from benchmarks.launcher import started
from benchmarks.peers import base_env, child_argv

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.events import EventChannel
    from benchmarks.peers import Variant

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]
CHECKPOINTS = (("zombies_025s", 0.25), ("zombies_1s", 1.0))
METRICS = tuple(name for name, _ in CHECKPOINTS)


def unavailable_reason() -> str:
    """Why this bench cannot run here, or "" when it can."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) not found"
    if os.geteuid() != 0:
        return "unshare --pid needs root"
    return ""


def measure(
    variant: Variant, workdir: Path, channel: EventChannel, orphans: int
) -> dict[str, float]:
    """One repetition for one variant."""
    channel.reset()
    launch = variant.build(child_argv(channel.path, "orphans", orphans), workdir, base_env())
    result: dict[str, float] = {}
    with started(launch, workdir, prefix=UNSHARE) as run:
        t_exit = channel.wait("orphans", 60, alive=run.pid).time
        for name, delay in CHECKPOINTS:
            time.sleep(max(0.0, t_exit + delay - time.monotonic()))
            result[name] = procfs.zombies_under(run.pid)
        for info in procfs.descendants(run.pid):
            if info.ppid == run.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(info.pid, signal.SIGKILL)
        if run.pidfd.wait(10) is None:
            raise BenchError("the PID namespace did not end after SIGKILL to its PID 1")
    return result
