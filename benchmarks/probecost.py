"""The exec probe's cost: wall time, CPU and peak memory of one run, against `python -c pass`.

Each run is forked by a lean timer process (timer.py) and waited for with `os.wait4`, so CPU
(user + system) and peak RSS are the probe process's own, from the kernel. One warm-up run,
then `runs` timed runs; a repetition's value is the median of its runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import TYPE_CHECKING

from benchmarks import botsenv
from benchmarks.events import BenchError
from benchmarks.peers import BENCH_DIR, base_env

if TYPE_CHECKING:
    from pathlib import Path

METRICS = ("exec_wall_ms", "exec_cpu_ms", "exec_maxrss_kib")
DJANGO = "exec-probe-django"
FLOOR = "exec-python-floor"


def unavailable_reason() -> str:
    """Why this bench cannot run here, or "" when it can."""
    try:
        botsenv.bots_install_dir()
    except FileNotFoundError as err:
        return str(err)
    return ""


def _timed(argv: list[str], cwd: Path, runs: int) -> list[list[float]]:
    done = subprocess.run(
        [sys.executable, "-S", str(BENCH_DIR / "timer.py"), str(runs), *argv],
        cwd=cwd,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60 + 10 * runs,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"{argv} failed: {done.stderr[-800:]}")
    samples: list[list[float]] = json.loads(done.stdout)
    return samples


def commands(workdir: Path) -> dict[str, list[str]]:
    """The two rows: the Django health check and the bare interpreter floor."""
    config = botsenv.build(workdir / "bots")
    return {
        DJANGO: [sys.executable, str(BENCH_DIR / "exec_probe.py"), str(config)],
        FLOOR: [sys.executable, "-c", "pass"],
    }


def measure(argv: list[str], workdir: Path, runs: int) -> dict[str, float]:
    """One repetition: warm up once, then the medians of `runs` runs."""
    samples = _timed(argv, workdir, runs + 1)[1:]
    return {
        "exec_wall_ms": statistics.median(s[0] for s in samples),
        "exec_cpu_ms": statistics.median(s[1] for s in samples),
        "exec_maxrss_kib": statistics.median(s[2] for s in samples),
    }
