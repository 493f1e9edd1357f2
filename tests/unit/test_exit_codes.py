import os
import signal

import pytest

from bots_runtime import exit_codes
from bots_runtime.exit_codes import ExitStatus


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


def test_runtime_codes_are_distinct_and_documented() -> None:
    assert len(set(exit_codes.RUNTIME_CODES)) == len(exit_codes.RUNTIME_CODES)
    doc = exit_codes.__doc__ or ""
    for code in exit_codes.RUNTIME_CODES:
        assert f"| {code} |" in doc
