import os
import signal

import pytest

from bots_runtime import config
from bots_runtime.core import exit_codes
from bots_runtime.core.exit_codes import ExitStatus


@pytest.mark.parametrize("code", range(256))
def test_exit_codes_pass_through(code: int) -> None:
    """Every exit code 0-255 is reported unchanged."""
    status = ExitStatus.from_wait_status(code << 8)
    assert status.shell_code == code
    assert exit_codes.final_code(status, frozenset()) == code


@pytest.mark.parametrize("signum", [s for s in signal.Signals if 0 < s < 32])
def test_signal_deaths_are_128_plus_n(signum: signal.Signals) -> None:
    status = ExitStatus.from_wait_status(int(signum))
    assert os.WIFSIGNALED(int(signum))
    assert status.signal == signum
    assert status.shell_code == 128 + signum
    assert status.reason == "killed"


def test_success_codes_map_to_zero() -> None:
    status = ExitStatus(signal=signal.SIGTERM)
    assert exit_codes.final_code(status, frozenset({143})) == 0
    assert exit_codes.final_code(ExitStatus(code=2), frozenset({143})) == 2


def test_describe_uses_service_meanings_and_oom_hint() -> None:
    assert ExitStatus(code=2).describe({2: "run finished with errors"}) == (
        "exit code 2: run finished with errors"
    )
    assert "out of memory" in ExitStatus(signal=signal.SIGKILL).describe()


def test_describe_explains_a_signal_death_by_its_shell_code() -> None:
    """Bots 4.0's engine dies of its SIGINT on purpose: 130's meaning follows the signal."""
    meanings = {130: "stopped by SIGINT: the rest of the run was skipped"}
    assert ExitStatus(signal=signal.SIGINT).describe(meanings) == (
        "killed by SIGINT: stopped by SIGINT: the rest of the run was skipped"
    )
    assert ExitStatus(signal=signal.SIGTERM).describe(meanings) == "killed by SIGTERM"


def test_runtime_codes_are_outside_the_signal_range_and_in_help() -> None:
    """The runtime's own codes never look like "killed by a signal" and --help lists each."""
    text = config.help_text("test")
    for code, meaning in exit_codes.RUNTIME_CODES.items():
        assert code < 128
        assert f"{code} {meaning}" in text


def test_exec_errors_map_to_the_shells_codes() -> None:
    """A missing program is 127, any other exec failure 126 (tini's and the shell's rule)."""
    assert exit_codes.exec_error_code(FileNotFoundError(2, "x")) == 127
    assert exit_codes.exec_error_code(PermissionError(13, "x")) == 126
    assert exit_codes.exec_error_code(OSError(8, "exec format error")) == 126
