"""The one child program every supervisor runs in the benchmarks (stdlib only, run with `-S`).

It reports monotonic timestamps through a FIFO opened by path, so it works under any
supervisor, even one that closes inherited descriptors or empties the environment.
CLOCK_MONOTONIC is system-wide (and not changed by a PID namespace), so the harness can
subtract its own timestamps from the child's.

usage: python -S child.py FIFO MODE [N]
  life       report `start`, then wait; SIGTERM reports `term` and `exit` and exits 0
  orphans N  fork N orphans that exit together 0.1 s later (reported as `orphans T_EXIT`)
  flood N    on SIGUSR1 write N lines of 100 bytes to stdout in 64 KiB writes
"""

import time

T_START = time.monotonic()  # the child's first statement (after `import time`)

import os  # noqa: E402 - the timestamp above must come first
import signal  # noqa: E402
import sys  # noqa: E402

LINE_BYTES = 100
CHUNK_BYTES = 65536
ORPHAN_DELAY_S = 0.1


def payload(seq: int) -> bytes:
    """Line `seq` of a flood: `#` + 7 digits + `|` + filler, 100 bytes with the newline."""
    head = b"#%07d|" % seq
    return head + b"x" * (LINE_BYTES - 1 - len(head)) + b"\n"


def flood_bytes(count: int) -> bytes:
    """All lines of a flood, built before the clock starts."""
    return b"".join(payload(i) for i in range(count))


class Reporter:
    """Writes `NAME VALUE...` lines to the FIFO; each is one atomic write (< PIPE_BUF)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY)

    def send(self, name: str, *values: object) -> None:
        line = " ".join([name, *(str(v) for v in values)]) + "\n"
        os.write(self._fd, line.encode())


def write_all(fd: int, data: bytes) -> None:
    """Write `data` in 64 KiB writes, as a busy logger with a block buffer would."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:CHUNK_BYTES])
        view = view[written:]


def wait_for_term(reporter: Reporter) -> None:
    """Block until SIGTERM; the handler reports and exits 0 straight away."""

    def on_term(_signum: int, _frame: object) -> None:
        reporter.send("term", time.monotonic())
        reporter.send("exit", time.monotonic())
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    while True:
        signal.pause()


def make_orphans(reporter: Reporter, count: int) -> None:
    """Fork a middle process that forks `count` sleepers and exits: they become orphans."""
    t_exit = time.monotonic() + ORPHAN_DELAY_S
    middle = os.fork()
    if middle == 0:
        for _ in range(count):
            if os.fork() == 0:
                time.sleep(max(0.0, t_exit - time.monotonic()))
                os._exit(0)
        os._exit(0)
    os.waitpid(middle, 0)
    reporter.send("orphans", t_exit)


def flood(reporter: Reporter, count: int) -> None:
    """Build the lines, report `ready`, wait for SIGUSR1, write them, report start and end."""
    data = flood_bytes(count)
    reporter.send("ready", time.monotonic())
    signal.sigwait({signal.SIGUSR1})
    reporter.send("flood_start", time.monotonic())
    write_all(1, data)
    reporter.send("flood_end", time.monotonic())


def main(argv: list[str]) -> None:
    """Dispatch on MODE; every mode ends waiting for SIGTERM, so no supervisor restarts it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    reporter = Reporter(argv[1])
    reporter.send("start", os.getpid(), T_START)
    mode = argv[2]
    if mode == "orphans":
        make_orphans(reporter, int(argv[3]))
    elif mode == "flood":
        flood(reporter, int(argv[3]))
    elif mode != "life":
        sys.exit(f"unknown mode {mode}")
    wait_for_term(reporter)


if __name__ == "__main__":
    main(sys.argv)
