import signal

from bots_runtime.core import signals


def test_stop_signals_and_uncatchables() -> None:
    caught = signals.caught_signals()
    assert signal.SIGTERM in caught and signal.SIGHUP in caught and signal.SIGCHLD in caught
    assert signal.SIGKILL not in caught and signal.SIGSTOP not in caught
    assert signal.SIGPIPE not in caught
    assert {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT} == signals.STOP_SIGNALS


def test_child_gets_default_dispositions_for_everything_catchable() -> None:
    reset = signals.reset_in_child()
    assert signal.SIGINT in reset and signal.SIGQUIT in reset and signal.SIGPIPE in reset
    assert signal.SIGKILL not in reset


def test_rewrite_and_drop_but_never_sigkill() -> None:
    table: dict[int, int] = {signal.SIGTERM: signal.SIGINT, signal.SIGHUP: 0, signal.SIGKILL: 15}
    assert signals.rewrite(signal.SIGTERM, table) == signal.SIGINT
    assert signals.rewrite(signal.SIGHUP, table) == 0
    assert signals.rewrite(signal.SIGUSR1, table) == signal.SIGUSR1
    assert signals.rewrite(signal.SIGKILL, table) == signal.SIGKILL
