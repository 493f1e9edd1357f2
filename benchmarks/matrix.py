"""The fault matrix: every fault of `faults.FAULTS` repeated (20 times; smoke: once), one table.

`python -m benchmarks faults [--smoke] [--runs N] [--only TEXT,...] [--image TAG] [--out DIR]`

A row passes only when every run ended as documented. Besides, each run reports the lines it
lost, the zombies it saw, the processes left running after the runtime was gone (strays, the
harness being a subreaper they come back to) and the stale locks (Bots `mutex` rows, a held
engine run lock). Results go to `faults.json` and `faults.md` (full: benchmarks/results/;
smoke: benchmarks/results/tmp/faults-smoke/).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import procfs
from benchmarks.faultkit import Context, Failed, FaultError, Sizes, leftovers
from benchmarks.faults import FAULTS, Fault
from benchmarks.launcher import become_subreaper, sweep_strays
from benchmarks.peers import BENCH_DIR, REPO
from benchmarks.stats import percentile

RESULTS = BENCH_DIR / "results"
SMOKE_RESULTS = RESULTS / "tmp" / "faults-smoke"
FULL_RUNS = 20
#: Processes of podman's own (conmon double-forks and comes back to the subreaper harness).
NOT_STRAYS = {"conmon", "podman", "catatonit"}
DEFAULT_IMAGE = "localhost/bots-runtime:bench"
#: What a run may fail with; anything else is a bug of the harness and propagates.
RUN_ERRORS = (FaultError, Failed, OSError, subprocess.SubprocessError, AssertionError, ValueError)


@dataclass
class Row:
    """One fault's runs."""

    name: str
    documented: str
    runs: int = 0
    ok: int = 0
    lines_lost: int = 0
    zombies: int = 0
    strays: int = 0
    stale_locks: int = 0
    seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: str = ""

    @property
    def passed(self) -> bool:
        """Every run as documented, nothing lost or left behind."""
        clean = not (self.lines_lost or self.zombies or self.strays or self.stale_locks)
        return bool(self.skipped) or (self.ok == self.runs and clean)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]


def _strays() -> tuple[int, int]:
    """(zombies, live processes) below the harness that are not podman's own."""
    me = os.getpid()
    keep: set[int] = set()
    for info in procfs.descendants(me):
        try:
            comm = Path(f"/proc/{info.pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm in NOT_STRAYS:
            keep.update(p.pid for p in procfs.descendants(info.pid))
    return leftovers(frozenset(keep))


def run_fault(fault: Fault, runs: int, sizes: Sizes, image: str | None, root: Path) -> Row:
    """Repeat one fault; a failed run is recorded with why, and the next one starts clean."""
    row = Row(fault.name, fault.documented)
    reason = fault.unavailable()
    if fault.needs_image and image is None:
        reason = "no image (smoke mode builds none; run the full matrix or the image tests)"
    if reason:
        row.skipped = reason
        _say(f"skip {fault.name}: {reason}")
        return row
    for n in range(runs):
        workdir = root / f"{_slug(fault.name)}-{n}"
        workdir.mkdir(parents=True)
        ctx = Context(workdir, sizes, image)
        started = time.monotonic()
        row.runs += 1
        try:
            outcome = fault.run(ctx)
        except RUN_ERRORS as err:
            detail = f"run {n + 1}: {type(err).__name__}: {str(err).strip()[:1500]}"
            row.failures.append(detail)
            _say(f"FAIL {fault.name} {detail}")
            if os.environ.get("BENCH_TRACEBACK"):
                traceback.print_exc()
        else:
            row.ok += 1
            zombies, strays = _strays()
            row.lines_lost += outcome.lines_lost
            row.zombies += outcome.zombies + zombies
            row.strays += strays
            row.stale_locks += outcome.stale_locks
            row.notes.append(outcome.note)
            _say(f"ok   {fault.name} [{n + 1}/{runs}] {outcome.note}")
        finally:
            ctx.close()
            sweep_strays()
            row.seconds.append(time.monotonic() - started)
            shutil.rmtree(workdir, ignore_errors=True)
    return row


def build_image(image: str) -> str | None:
    """container/build-image.sh IMAGE (cached layers); None, with the reason said, on failure."""
    if shutil.which("podman") is None:
        _say("no image: podman is not installed")
        return None
    done = subprocess.run(
        [str(REPO / "container" / "build-image.sh"), image],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        _say(f"no image: build failed\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return None
    return image


def image_exists(image: str) -> bool:
    """True when podman has `image` already (the smoke mode builds none)."""
    if shutil.which("podman") is None:
        return False
    from tests.image.podman import podman_env  # noqa: PLC0415 - only with podman

    done = subprocess.run(
        ["podman", "image", "exists", image], env=podman_env(), capture_output=True, check=False
    )
    return done.returncode == 0


def run(
    *, smoke: bool, runs: int | None, only: list[str] | None, image: str | None
) -> dict[str, Any]:
    """Run the matrix; return the JSON-ready document."""
    become_subreaper()
    sizes = Sizes.smoke() if smoke else Sizes.full()
    runs = runs or (1 if smoke else FULL_RUNS)
    chosen = [f for f in FAULTS if not only or any(o.lower() in f.name.lower() for o in only)]
    begun_at = dt.datetime.now(dt.UTC)
    begun = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="bots-faults-"))
    rows: list[Row] = []
    try:
        for fault in chosen:
            rows.append(run_fault(fault, runs, sizes, image, root))
    finally:
        sweep_strays()
        shutil.rmtree(root, ignore_errors=True)
    took = time.monotonic() - begun
    return {
        "meta": {
            "mode": "smoke" if smoke else "full",
            "runs": runs,
            "started": begun_at.isoformat(timespec="seconds"),
            "seconds": round(took, 1),
            "sizes": asdict(sizes),
            "image": image,
            "python": platform.python_version(),
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "git": _git(),
        },
        "rows": [asdict(r) | {"passed": r.passed} for r in rows],
    }


def _git() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def table(doc: dict[str, Any]) -> str:
    """The Markdown page: the table, then what failed and why."""
    meta = doc["meta"]
    lines = [
        "# Fault matrix",
        "",
        (
            f"`python -m benchmarks faults` ({meta['mode']} mode) on {meta['started']}: "
            f"{meta['runs']} run(s) per fault, {meta['seconds']:.0f} s in all; git {meta['git']}, "
            f"Python {meta['python']}, Linux {meta['kernel']}, {meta['cpus']} CPUs. A row passes "
            "when every run ended as documented and nothing was lost or left behind. Method: "
            "[docs/benchmarks.md](../../docs/benchmarks.md#fault-matrix)."
        ),
        "",
        (
            "| fault | runs | as documented | lines lost | zombies | strays | stale locks | "
            "s/run | documented outcome | measured (last run) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["rows"]:
        if row["skipped"]:
            lines.append(
                f"| {row['name']} | 0 | skipped: {row['skipped']} | - | - | - | - | - | "
                f"{row['documented']} | - |"
            )
            continue
        ok = f"{row['ok']}/{row['runs']}"
        shown = ok if row["passed"] else f"**{ok}**"
        per_run = percentile(row["seconds"], 0.5) if row["seconds"] else 0.0
        note = row["notes"][-1] if row["notes"] else "-"
        lines.append(
            f"| {row['name']} | {row['runs']} | {shown} | {row['lines_lost']} | "
            f"{row['zombies']} | {row['strays']} | {row['stale_locks']} | {per_run:.1f} | "
            f"{row['documented']} | {note} |"
        )
    failed = [r for r in doc["rows"] if r["failures"]]
    if failed:
        lines += ["", "## Failures", ""]
        for row in failed:
            lines.append(f"- **{row['name']}**")
            lines.extend(f"  - {' '.join(f.split())[:600]}" for f in row["failures"][:5])
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], out: Path) -> None:
    """faults.json and faults.md in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "faults.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "faults.md").write_text(table(doc))


def main(args: Any) -> int:
    """The `faults` command: exit 0 when every row passed."""
    image = args.image or os.environ.get("BOTS_IMAGE") or DEFAULT_IMAGE
    wants_image = any(
        f.needs_image
        for f in FAULTS
        if not args.only or any(o.lower() in f.name.lower() for o in args.only)
    )
    chosen_image: str | None = None
    if wants_image:
        chosen_image = (
            (image if image_exists(image) else None) if args.smoke else build_image(image)
        )
    doc = run(smoke=args.smoke, runs=args.runs, only=args.only, image=chosen_image)
    out = args.out or (SMOKE_RESULTS if args.smoke else RESULTS)
    write(doc, out)
    print(table(doc))
    _say(f"fault matrix in {out}/faults.md")
    return 0 if all(r["passed"] for r in doc["rows"]) else 1
