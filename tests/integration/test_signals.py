"""Signals sent to a real runtime reach the real child (dumb-init's proxies_signals_test)."""

import signal

import pytest

from tests.support import ChildCmd, RuntimeFactory, RuntimeProcess

FORWARDED = [
    s
    for s in signal.Signals
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
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGQUIT,
    }
    and s < signal.SIGRTMIN
]


def start_ready(
    runtime: RuntimeFactory, child_cmd: ChildCmd, *flags: str, child_flags: tuple[str, ...] = ()
) -> RuntimeProcess:
    rt: RuntimeProcess = runtime(
        "--port", "0", "--log-format", "json", *flags, "run", "--", *child_cmd(*child_flags)
    )
    rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()))
    return rt


def test_every_forwardable_signal_round_trips(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    """1. the child is ready 2. each signal goes to the runtime 3. the child prints its number."""
    rt = start_ready(runtime, child_cmd)
    for sig in [*FORWARDED, signal.SIGRTMIN + 3]:
        rt.signal(sig)
        rt.wait_child_line(f"signal {int(sig)}")
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 0


def test_rewrite_applies_to_forwarding_and_dropping(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = start_ready(
        runtime, child_cmd, "--signal-rewrite", "USR1:USR2", "--signal-rewrite", "HUP:0"
    )
    rt.signal(signal.SIGHUP)
    rt.signal(signal.SIGUSR1)
    rt.wait_child_line(f"signal {int(signal.SIGUSR2)}")
    lines = rt.child_lines()
    assert f"signal {int(signal.SIGUSR1)}" not in lines
    assert f"signal {int(signal.SIGHUP)}" not in lines
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 0


def test_rewrite_applies_to_the_stop_signal(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    """With TERM:INT the child is stopped with SIGINT."""
    rt = start_ready(runtime, child_cmd, "--signal-rewrite", "TERM:INT")
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 0
    assert f"signal {int(signal.SIGINT)}" in rt.child_lines()
    assert f"signal {int(signal.SIGTERM)}" not in rt.child_lines()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_stop_signals_start_the_stop_sequence(
    runtime: RuntimeFactory, child_cmd: ChildCmd, stop: signal.Signals
) -> None:
    rt = start_ready(runtime, child_cmd, "--stop-signal", "USR2")
    rt.signal(stop)
    rt.wait_event("stop requested", signal=stop.name)
    rt.wait_child_line(f"signal {int(signal.SIGUSR2)}")
    rt.kill()


def test_inherited_ignored_sigint_is_reset_for_the_child(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """A runtime started with SIGINT ignored (sh -c 'cmd &') still gives the child SIGINT."""
    import subprocess  # noqa: PLC0415

    rt = runtime(
        "--port",
        "0",
        "--stop-signal",
        "INT",
        "run",
        "--",
        *child_cmd("--stop-on", "INT"),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert isinstance(rt.proc, subprocess.Popen)
    rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()))
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 0
    assert f"signal {int(signal.SIGINT)}" in rt.child_lines()
