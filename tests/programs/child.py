"""A test child in the style of dumb-init's print_signals: real behaviour, scripted by flags.

It prints `ready <pid>` once its handlers are installed, then `signal <N>` for every signal it
receives (flushing each line), and acts according to its flags (`--tick S`: `tick N` every S
seconds until it is stopped, numbered from 0, so a lost line shows as a gap). Used by the
integration and end-to-end tests and by the benchmarks.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

CATCHABLE = [
    s
    for s in signal.valid_signals()
    if s
    not in {
        signal.SIGKILL,
        signal.SIGSTOP,
        signal.SIGCHLD,
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGFPE,
        signal.SIGILL,
        signal.SIGTRAP,
        signal.SIGABRT,
        signal.SIGSYS,
        signal.SIGTTIN,
        signal.SIGTTOU,
        signal.SIGPIPE,
        signal.SIGTSTP,
    }
]


def say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exit", type=int, default=None, help="exit at once with this code")
    parser.add_argument("--stop-exit", type=int, default=0, help="code on the stop signal")
    parser.add_argument("--stop-on", default="TERM,INT,QUIT", help="signals that end the child")
    parser.add_argument("--ignore", default="", help="comma list of signals to ignore")
    parser.add_argument("--stop-delay", type=float, default=0.0, help="seconds before exiting")
    parser.add_argument("--orphans", type=int, default=0, help="leave N orphans that sleep")
    parser.add_argument("--orphan-sleep", type=float, default=0.1)
    parser.add_argument("--orphans-ignore-term", action="store_true")
    parser.add_argument("--grandchild", action="store_true", help="start a grandchild in group")
    parser.add_argument("--grandchild-ignore", default="", help="signals it ignores")
    parser.add_argument("--grandchild-sleep", type=float, default=60.0)
    parser.add_argument(
        "--grandchild-wait", action="store_true", help="on stop, wait for the grandchild first"
    )
    parser.add_argument("--flood", type=int, default=0, help="write N lines of --size bytes")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--then-exit", type=int, default=None, help="exit after flood/orphans")
    parser.add_argument("--sleep", type=float, default=3600.0)
    parser.add_argument("--tick", type=float, default=0.0, help="print `tick N` every S s")
    args = parser.parse_args()

    if args.exit is not None:
        return int(args.exit)

    stop_on = {signal.Signals["SIG" + n] for n in args.stop_on.split(",") if n}
    ignored = {signal.Signals["SIG" + n] for n in args.ignore.split(",") if n}
    stopping: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        say(f"signal {signum}")
        if signum in stop_on:
            stopping.append(signum)

    for sig in CATCHABLE:
        if sig in ignored:
            signal.signal(sig, signal.SIG_IGN)
        else:
            signal.signal(sig, handler)

    grandchild = None
    if args.grandchild:
        pid = grandchild = os.fork()
        if pid == 0:
            for sig in CATCHABLE:
                signal.signal(sig, signal.SIG_DFL)
            for name in filter(None, args.grandchild_ignore.split(",")):
                signal.signal(signal.Signals["SIG" + name], signal.SIG_IGN)
            say(f"grandchild {os.getpid()}")
            time.sleep(args.grandchild_sleep)
            os._exit(0)

    for _ in range(args.orphans):
        pid = os.fork()
        if pid == 0:
            # Double fork: the middle process exits at once, so the sleeper is an orphan.
            if os.fork() == 0:
                for sig in CATCHABLE:
                    signal.signal(sig, signal.SIG_DFL)
                if args.orphans_ignore_term:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                time.sleep(args.orphan_sleep)
                os._exit(0)
            os._exit(0)
        os.waitpid(pid, 0)

    if args.flood:
        line = b"x" * (args.size - 1) + b"\n"
        per_write = max(1, 65536 // len(line))
        remaining = args.flood
        while remaining:
            n = min(per_write, remaining)
            os.write(1, line * n)
            remaining -= n

    say(f"ready {os.getpid()}")
    if args.then_exit is not None:
        return int(args.then_exit)

    deadline = time.monotonic() + args.sleep
    ticks = 0
    while not stopping and time.monotonic() < deadline:
        if args.tick:
            say(f"tick {ticks}")
            ticks += 1
            time.sleep(args.tick)
        else:
            time.sleep(0.01)
    if stopping and args.grandchild_wait and grandchild is not None:
        say("waiting for the grandchild")
        _, status = os.waitpid(grandchild, 0)
        say(f"grandchild ended {status}")
    if stopping and args.stop_delay:
        say(f"stopping in {args.stop_delay}")
        end = time.monotonic() + args.stop_delay
        while time.monotonic() < end:
            time.sleep(0.01)
    say("exiting")
    return int(args.stop_exit) if stopping else 0


if __name__ == "__main__":
    sys.exit(main())
