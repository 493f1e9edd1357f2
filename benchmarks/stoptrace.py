"""Where bots-runtime's SIGTERM-to-child time goes: a timeline of one stop, repeated.

Sampling profilers (py-spy, pyinstrument) cannot resolve a sub-millisecond path, so this
runs the real CLI in a process whose Supervisor methods are wrapped to record monotonic
timestamps, sends it SIGTERM from outside, and prints the medians of each step relative
to the moment the signal was sent:
  python -m benchmarks.stoptrace [RUNS]
"""

from __future__ import annotations

import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import procfs
from benchmarks.events import EventChannel
from benchmarks.peers import REPO, child_argv, free_port, runtime_argv


def _inner(trace_path: str, argv: list[str]) -> int:
    """Run the CLI with timestamping wrappers; write the marks to `trace_path`."""
    from bots_runtime import cli  # noqa: PLC0415
    from bots_runtime.core import state  # noqa: PLC0415
    from bots_runtime.process import output, tree  # noqa: PLC0415
    from bots_runtime.supervision import stop, supervisor  # noqa: PLC0415

    marks: list[tuple[str, float]] = []
    cls: Any = supervisor.Supervisor
    sequence: Any = stop.StopSequence
    children: Any = tree.ChildTree

    def mark(name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            marks.append((f"{name} enter", time.monotonic()))
            try:
                return fn(*args, **kwargs)
            finally:
                marks.append((f"{name} return", time.monotonic()))

        return wrapper

    cls.request_stop = mark("Supervisor.request_stop", cls.request_stop)
    sequence.begin = mark("StopSequence.begin", sequence.begin)
    children.send = mark("ChildTree.send (kill)", children.send)
    board: Any = state.Board
    board.publish = mark("Board.publish", board.publish)
    out: Any = output.Output
    out.write = mark("Output.write (rendered log line)", out.write)
    code = cli.main(argv, fast_exit=False)
    Path(trace_path).write_text(json.dumps(marks))
    return code


def _once(root: Path, channel: EventChannel) -> dict[str, float]:
    channel.reset()
    trace = root / "trace.json"
    argv = runtime_argv("wrap", free_port())[3:]
    cmd = [sys.executable, "-m", "benchmarks.stoptrace", "--inner", str(trace), *argv]
    cmd += child_argv(channel.path, "life")
    with (root / "out.log").open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=out)
        child = int(channel.wait("start", 30, alive=proc.pid).values[0])
        procfs.settle(procfs.supervisor_pids(proc.pid, child))
        t_sig = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        term = channel.wait("term", 10).time
        proc.wait(timeout=30)
    timeline = {"child handler runs": term - t_sig}
    for name, t in json.loads(trace.read_text()):
        if t >= t_sig:
            timeline.setdefault(name, t - t_sig)
    return timeline


def main(argv: list[str]) -> int:
    """Print the median timeline over RUNS stops (default 20)."""
    if argv[:1] == ["--inner"]:
        return _inner(argv[1], argv[2:])
    runs = int(argv[0]) if argv else 20
    with tempfile.TemporaryDirectory(prefix="stoptrace-") as tmp:
        root = Path(tmp)
        channel = EventChannel.create(root)
        try:
            timelines = [_once(root, channel) for _ in range(runs)]
        finally:
            channel.close()
    names = sorted(timelines[0], key=lambda n: statistics.median(t[n] for t in timelines))
    print(f"median of {runs} stops, ms after SIGTERM was sent to bots-runtime:")
    for name in names:
        values = [t[name] * 1000 for t in timelines if name in t]
        print(f"  {statistics.median(values):7.3f}  [{min(values):.3f}-{max(values):.3f}]  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
