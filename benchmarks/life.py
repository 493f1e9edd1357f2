"""Start, idle and stop: exec to the child's first statement, idle memory and CPU, SIGTERM.

One run: spawn the supervisor, wait for the child's `start`, let the supervisor settle,
measure an idle window, send SIGTERM (to the child itself for `direct`), and time the
child's handler, the child's exit and the supervisor's disappearance (pidfd).
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from benchmarks import procfs
from benchmarks.events import BenchError
from benchmarks.launcher import STOP_WAIT_S, started
from benchmarks.peers import base_env, child_argv

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.events import EventChannel
    from benchmarks.peers import Variant

METRICS = (
    "startup_ms",
    "sigterm_to_child_ms",
    "sigterm_to_gone_ms",
    "child_exit_to_gone_ms",
    "rss_kib",
    "hwm_kib",
    "idle_cpu_pct",
    "procs",
)


def measure(
    variant: Variant, workdir: Path, channel: EventChannel, idle_s: float
) -> dict[str, float]:
    """One repetition for one variant."""
    channel.reset()
    launch = variant.build(child_argv(channel.path, "life"), workdir, base_env())
    result: dict[str, float] = {}
    with started(launch, workdir) as run:
        start = channel.wait("start", 60, alive=run.pid)
        child_pid = int(start.values[0])
        result["startup_ms"] = (start.time - run.t_spawn) * 1000
        direct = variant.name == "direct"
        if not direct:
            procfs.settle(procfs.supervisor_pids(run.pid, child_pid))
            sup = procfs.supervisor_pids(run.pid, child_pid)
            cpu0, t0 = procfs.cpu_ns(sup), time.monotonic()
            time.sleep(idle_s)
            sup = procfs.supervisor_pids(run.pid, child_pid)
            cpu1, t1 = procfs.cpu_ns(sup), time.monotonic()
            rss, hwm = procfs.memory_kib(sup)
            result |= {
                "rss_kib": rss,
                "hwm_kib": hwm,
                "idle_cpu_pct": (cpu1 - cpu0) / 1e9 / (t1 - t0) * 100,
                "procs": len(sup),
            }
        else:
            time.sleep(idle_s)
        t_sig = time.monotonic()
        os.kill(child_pid if direct else run.pid, signal.SIGTERM)
        term = channel.wait("term", STOP_WAIT_S, alive=run.pid)
        gone = run.pidfd.wait(STOP_WAIT_S)
        if gone is None:
            raise BenchError(f"{variant.name} still running {STOP_WAIT_S} s after SIGTERM")
        exited = channel.wait("exit", 5)
        result |= {
            "sigterm_to_child_ms": (term.time - t_sig) * 1000,
            "sigterm_to_gone_ms": (gone - t_sig) * 1000,
            "child_exit_to_gone_ms": (gone - exited.time) * 1000,
        }
    return result
