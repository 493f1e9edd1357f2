"""The run: every bench, every repetition, every variant in turn (round-robin), errors kept.

Variants are interleaved inside each repetition, and the order rotates from one repetition
to the next, so slow drift of the machine spreads over all rows instead of biasing one.
"""

from __future__ import annotations

import compileall
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import flood, life, peers, probecost, readyz, zombies
from benchmarks.events import BenchError, EventChannel
from benchmarks.launcher import become_subreaper, sweep_strays, tail

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Sizes:
    """How much work one repetition does."""

    reps: int
    idle_s: float
    orphans: int
    lines: int
    probes: int
    wrk_s: float
    exec_runs: int

    @classmethod
    def full(cls) -> Sizes:
        """The sizes of the issue and of the peer baselines."""
        return cls(
            reps=5, idle_s=5.0, orphans=50, lines=1_000_000, probes=2000, wrk_s=5.0, exec_runs=10
        )

    @classmethod
    def smoke(cls) -> Sizes:
        """Small enough for CI (about 30 s here), big enough that every metric exists."""
        return cls(reps=1, idle_s=0.5, orphans=10, lines=20_000, probes=200, wrk_s=1.0, exec_runs=2)


BENCHES = (peers.LIFE, peers.ZOMBIES, peers.FLOOD, peers.READYZ, peers.EXEC)


@dataclass
class Results:
    """Raw values per variant and metric, plus what was skipped or failed and why."""

    values: dict[str, dict[str, list[float]]]
    errors: dict[str, list[str]]
    skipped: dict[str, str]

    def add(self, variant: str, measured: dict[str, float]) -> None:
        """Append one repetition's values."""
        row = self.values.setdefault(variant, {})
        for metric, value in measured.items():
            row.setdefault(metric, []).append(float(value))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _bench_reason(bench: str) -> str:
    if bench == peers.ZOMBIES:
        return zombies.unavailable_reason()
    if bench == peers.READYZ:
        return readyz.unavailable_reason()
    if bench == peers.EXEC:
        return probecost.unavailable_reason()
    return ""


def run(
    sizes: Sizes,
    only: set[str] | None,
    benches: set[str] | None,
    mode: str,
    alt_src: Path | None = None,
) -> dict[str, Any]:
    """Measure everything that applies; return the JSON-ready document."""
    become_subreaper()
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    _compile_runtime([peers.REPO, *([alt_src] if alt_src else [])])
    variants = [v for v in peers.discover(alt_src) if only is None or v.name in only]
    results = Results({}, {}, {})
    for v in variants:
        if not v.available:
            results.skipped[v.name] = v.reason
            _say(f"skip {v.name}: {v.reason}")
    root = Path(tempfile.mkdtemp(prefix="bots-bench-"))
    channel = EventChannel.create(root)
    try:
        for bench in BENCHES:
            if benches is not None and bench not in benches:
                continue
            if reason := _bench_reason(bench):
                results.skipped[bench] = reason
                _say(f"skip bench {bench}: {reason}")
                continue
            _run_bench(bench, variants, sizes, root, channel, results, only)
    finally:
        channel.close()
        sweep_strays()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "meta": _meta(sizes, mode, started_at, time.monotonic() - t0),
        "variants": {
            v.name: {
                "version": v.version,
                "source": v.source,
                "config": v.config,
                "benches": sorted(v.benches),
                "available": v.available,
                "reason": v.reason,
            }
            for v in variants
        },
        "values": results.values,
        "errors": results.errors,
        "skipped": results.skipped,
    }


def _compile_runtime(roots: list[Path]) -> None:
    """Cache the runtime's bytecode first, as an installed image has it.

    With PYTHONDONTWRITEBYTECODE set (as in some sandboxes and CI) or after an edit, every
    start would otherwise compile the changed modules again, which inflates start-up and RSS.
    compileall writes the cache regardless of that variable.
    """
    for root in roots:
        package = root / "bots_runtime"
        if package.is_dir():
            compileall.compile_dir(package, quiet=1)


def _run_bench(
    bench: str,
    variants: list[peers.Variant],
    sizes: Sizes,
    root: Path,
    channel: EventChannel,
    results: Results,
    only: set[str] | None,
) -> None:
    jobs: list[tuple[str, Callable[[Path], dict[str, float]]]] = []
    if bench == peers.EXEC:
        commands = probecost.commands(root)
        for name, argv in commands.items():
            if only is None or name in only or "bots-runtime" in only:
                jobs.append((name, _exec_job(argv, sizes.exec_runs)))
    else:
        for v in variants:
            if not v.available or bench not in v.benches:
                continue
            jobs.append((v.name, _job(bench, v, sizes, channel)))
    for rep in range(sizes.reps):
        shift = rep % max(1, len(jobs))
        for name, job in jobs[shift:] + jobs[:shift]:
            workdir = root / f"{bench}-{name}-{rep}"
            workdir.mkdir()
            t = time.monotonic()
            try:
                measured = job(workdir)
            except (BenchError, OSError, subprocess.SubprocessError, AssertionError) as err:
                detail = f"{bench} rep {rep}: {type(err).__name__}: {err}"
                logs = "\n".join(
                    f"--- {log.name}\n{tail(log)}" for log in sorted(workdir.glob("*.log"))
                )
                results.errors.setdefault(name, []).append(detail + ("\n" + logs if logs else ""))
                _say(f"FAIL {name} {detail}\n{logs}")
                if os.environ.get("BENCH_TRACEBACK"):
                    traceback.print_exc()
            else:
                results.add(name, measured)
                shown = ", ".join(f"{k}={v:.4g}" for k, v in measured.items())
                took = time.monotonic() - t
                _say(f"{bench} rep {rep + 1}/{sizes.reps} {name} ({took:.1f} s): {shown}")
            finally:
                shutil.rmtree(workdir, ignore_errors=True)


def _exec_job(argv: list[str], runs: int) -> Callable[[Path], dict[str, float]]:
    return lambda wd: probecost.measure(argv, wd, runs)


def _job(
    bench: str, v: peers.Variant, sizes: Sizes, channel: EventChannel
) -> Callable[[Path], dict[str, float]]:
    if bench == peers.LIFE:
        return lambda wd: life.measure(v, wd, channel, sizes.idle_s)
    if bench == peers.ZOMBIES:
        return lambda wd: zombies.measure(v, wd, channel, sizes.orphans)
    if bench == peers.FLOOD:
        return lambda wd: flood.measure(v, wd, channel, sizes.lines)
    return lambda wd: readyz.measure(v, wd, channel, sizes.probes, sizes.wrk_s, sizes.lines)


def _meta(sizes: Sizes, mode: str, started_at: dt.datetime, seconds: float) -> dict[str, Any]:
    return {
        "mode": mode,
        "started": started_at.isoformat(timespec="seconds"),
        "duration_s": round(seconds, 1),
        "sizes": asdict(sizes),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "git": _git_revision(),
    }


def _git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(peers.REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"
