"""`python -m benchmarks run [--smoke] [--reps N] [--only NAMES] [--bench NAMES] [--out DIR]`,
`python -m benchmarks faults [--smoke] [--runs N] [--only TEXT] [--image TAG] [--out DIR]`
(the fault matrix), `python -m benchmarks edi [--smoke] [--ta N] [--reps N] [--out DIR]
[--no-postgres]` (the cost of reading EDI outcomes from a grown Bots database) and
`python -m benchmarks report RESULTS.json [--out DIR]` (redraw tables, chart and page).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks import harness, report
from benchmarks.peers import BENCH_DIR, PEERS_VENV

RESULTS = BENCH_DIR / "results"
SMOKE_RESULTS = RESULTS / "tmp" / "smoke"


def _names(text: str) -> set[str]:
    return {n.strip() for n in text.split(",") if n.strip()}


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="measure bots-runtime and its peers, round-robin")
    run.add_argument("--smoke", action="store_true", help="1 rep, small sizes (CI)")
    run.add_argument("--reps", type=int, help="repetitions (full default 5)")
    run.add_argument("--lines", type=int, help="flood lines (full default 1,000,000)")
    run.add_argument("--only", type=_names, help="rows, e.g. tini,bots-runtime")
    run.add_argument("--bench", type=_names, help="benches: " + ",".join(harness.BENCHES))
    run.add_argument(
        "--out", type=Path, help="output dir (default benchmarks/results; smoke: results/tmp/smoke)"
    )
    run.add_argument(
        "--runtime-src",
        type=Path,
        help="also run the bots_runtime package under DIR as row bots-runtime-alt (A/B)",
    )
    faults = sub.add_parser("faults", help="the fault matrix: every fault 20 times, one table")
    faults.add_argument("--smoke", action="store_true", help="each fault once, small sizes (CI)")
    faults.add_argument("--runs", type=int, help="runs per fault (full default 20)")
    faults.add_argument(
        "--only", type=lambda t: sorted(_names(t)), help="faults whose name has TEXT"
    )
    faults.add_argument("--image", help="image for the container fault (default $BOTS_IMAGE)")
    faults.add_argument("--out", type=Path, help="output dir (default benchmarks/results)")
    rep = sub.add_parser("report", help="rebuild tables, chart and page from a results JSON")
    rep.add_argument("results", type=Path)
    rep.add_argument("--out", type=Path)
    edi = sub.add_parser("edi", help="cost of reading EDI outcomes on a grown Bots database")
    edi.add_argument("--smoke", action="store_true", help="3,000 ta rows, SQLite only (CI)")
    edi.add_argument("--ta", type=int, help="ta rows to grow to (full default 100,000)")
    edi.add_argument("--reps", type=int, help="timed engine runs per database (full default 10)")
    edi.add_argument("--out", type=Path, help="output dir (default benchmarks/results/edi)")
    edi.add_argument("--no-postgres", action="store_true", help="SQLite only")
    return top


def write(doc: dict[str, Any], out: Path) -> None:
    """results.json, results.md, results.png (when matplotlib is at hand) and README.md."""
    out.mkdir(parents=True, exist_ok=True)
    report.summarise(doc)
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "results.md").write_text(report.tables(doc) + "\n" + report.targets_table(doc) + "\n")
    chart = draw_chart(out / "results.json", out / "results.png")
    (out / "README.md").write_text(report.page(doc, "results.png" if chart else None))


def chart_python() -> Path | None:
    """An interpreter with matplotlib: this one, else the bench-tools venv's, else None."""
    if find_spec("matplotlib") is not None:
        return Path(sys.executable)
    python = PEERS_VENV / "bin" / "python"
    return python if python.exists() else None


def draw_chart(results: Path, png: Path) -> bool:
    """Draw the chart in a separate interpreter; say so and go on when matplotlib is missing."""
    python = chart_python()
    if python is None:
        print(
            "no chart: matplotlib not found (pip install matplotlib, or benchmarks/setup)",
            file=sys.stderr,
        )
        return False
    done = subprocess.run(
        [str(python), str(BENCH_DIR / "chart.py"), str(results), str(png)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        print(f"no chart: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the command; exit 0 when every measurement succeeded, 1 when any failed."""
    args = parser().parse_args(argv)
    if args.command == "edi":
        from benchmarks import edi  # noqa: PLC0415 - needs Bots and bots_runtime.bots

        return edi.main(args.smoke, args.ta, args.reps, args.out, postgres=not args.no_postgres)
    if args.command == "faults":
        from benchmarks import matrix  # noqa: PLC0415 - imports the test kit, only when asked

        return matrix.main(args)
    if args.command == "report":
        doc = json.loads(args.results.read_text())
        write(doc, args.out or args.results.parent)
        return 0
    sizes = harness.Sizes.smoke() if args.smoke else harness.Sizes.full()
    if args.reps:
        sizes = replace(sizes, reps=args.reps)
    if args.lines:
        sizes = replace(sizes, lines=args.lines)
    out = args.out or (SMOKE_RESULTS if args.smoke else RESULTS)
    mode = "smoke" if args.smoke else "full"
    doc = harness.run(sizes, args.only, args.bench, mode, args.runtime_src)
    write(doc, out)
    print(f"results in {out}/README.md", file=sys.stderr)
    return 1 if doc["errors"] else 0
