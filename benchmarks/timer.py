"""Time a command N times from a small process: `python -S timer.py RUNS CMD ARGS...`.

Peak RSS from `wait4` includes the memory of the process that forked the command (the
kernel keeps the high-water mark across exec), so the harness, large after a flood,
would inflate it. This lean interpreter does the forking instead and prints one JSON list
of [wall_ms, cpu_ms, maxrss_kib] per run; a run that fails makes it exit 1.
"""

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    """Run argv[2:] argv[1] times; print the measurements."""
    runs = int(argv[1])
    command = argv[2:]
    samples = []
    for _ in range(runs):
        t0 = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            print(f"{command} exited {proc.returncode}", file=sys.stderr)
            return 1
        samples.append([wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_maxrss])
    print(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
