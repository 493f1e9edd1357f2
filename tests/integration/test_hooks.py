"""Before-spawn and after-run hooks, in a real supervised program (it owns its signals)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from typing import TYPE_CHECKING

from tests.support import PYTHON, ROOT

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from dataclasses import dataclass
    from bots_runtime.supervision.runtime import supervise
    from bots_runtime.core.spec import ServiceSpec, StopPlan, StopStep

    JOURNAL = sys.argv[1]

    def note(word):
        with open(JOURNAL, "a") as handle:
            handle.write(word + "\\n")

    @dataclass(frozen=True)
    class Report:
        seen: str
        name: str
        timeout: float = 5.0

        async def __call__(self, run, log):
            note(f"{self.name} code={run.exit_code} seen={self.seen}")

    def watch():
        # What the hook learns before the spawn travels in the hook it returns.
        return Report(seen=str(os.path.exists(JOURNAL + ".child")), name="made")

    def broken():
        raise RuntimeError("no database")

    spec = ServiceSpec(
        name="demo",
        argv=(sys.executable, "-c",
              "import sys; open(sys.argv[1] + '.child', 'w').close();"
              " open(sys.argv[1], 'a').write('child\\\\n'); sys.exit(3)", JOURNAL),
        env=dict(os.environ),
        stop=StopPlan(steps=(StopStep(0, signal.SIGTERM),), timeout=5),
        before_spawn=(watch, broken),
        after_run=(Report(seen="-", name="spec"),),
    )
    print("code", supervise(spec))
    """
)


def test_before_spawn_hooks_run_first_and_hand_over(tmp_path: Path) -> None:
    """1. A before-spawn hook runs before the child exists and returns an after-run hook.
    2. A before-spawn hook that raises does not stop the launch: a warning names it at the end.
    3. After the run, the made hook runs before the spec's own one; the exit code stands.
    """
    journal = tmp_path / "journal"
    done = subprocess.run(
        [PYTHON, "-c", SCRIPT, str(journal)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "code 3"
    assert journal.read_text().splitlines() == [
        "child",
        "made code=3 seen=False",
        "spec code=3 seen=-",
    ]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "before-spawn hook failed"]
    assert len(failed) == 1
    assert failed[0]["error"] == "no database"
    assert failed[0]["hook"] == "broken"
    assert failed[0]["level"] == "warning"
