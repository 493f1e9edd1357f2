"""What one engine run costs bots-runtime in EDI outcome work, in a fresh interpreter like the CLI.

Run as `python -m benchmarks.edi_probe DATABASE_JSON`. The modules the CLI has loaded by the
time it spawns an engine are imported first (not timed); then, timed, the before-spawn hook
(the watermark: driver import, connect, one query) and, after the line `go` on stdin (the
harness runs the real engine meanwhile), the end-of-run read of that run's report rows. Prints
one JSON line per phase.
"""

from __future__ import annotations

import json
import sys
import time

from bots_runtime.bots import catalogue  # noqa: F401 - the CLI has it loaded before the spawn
from bots_runtime.bots.enginerun import EngineRunWatch, read_run
from bots_runtime.bots.environment import Database


def main(raw: str) -> int:
    """Time the two reads around a run the harness performs."""
    database = Database(**json.loads(raw))
    begun = time.perf_counter()
    report = EngineRunWatch(database)()
    watermark_ms = (time.perf_counter() - begun) * 1000
    print(json.dumps({"watermark_ms": watermark_ms, "problem": report.problem}), flush=True)
    if sys.stdin.readline().strip() != "go" or report.mark is None:
        return 1
    begun = time.perf_counter()
    outcome = read_run(database, report.mark)
    read_ms = (time.perf_counter() - begun) * 1000
    print(
        json.dumps(
            {
                "read_ms": read_ms,
                "received": outcome.received,
                "commands": [c.type for c in outcome.commands],
                "routes": len(outcome.routes),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
