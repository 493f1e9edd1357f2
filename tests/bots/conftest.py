"""Fixtures of the Bots tests: a Bots environment per test, and runtimes started in it."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.bots.kit import (
    BOTS_BIN,
    BOTS_PYTHON,
    PUSHGATEWAY,
    VENV_SETTING,
    BotsDir,
    have_bots,
    make_bots_dir,
    pushgateway,
)
from tests.support import RuntimeProcess

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

#: A failed test's runtime gets this long to stop its Bots child cleanly (engine: 25 s).
TEARDOWN_GRACE = 30.0


@pytest.fixture(name="bots_dir")
def bots_dir_fixture(tmp_path: Path) -> BotsDir:
    if not have_bots():
        pytest.skip(f"Bots EDI is not installed in {BOTS_BIN} (see {VENV_SETTING})")
    return make_bots_dir(tmp_path / "bots")


@pytest.fixture(name="run_runtime")
def run_runtime_fixture() -> Iterator[Callable[..., RuntimeProcess]]:
    """Start `bots-runtime ARGS` in a user's bare environment; stopped at the end if running.

    With `health`, the runtime serves on any free loopback port and reports it; without,
    it runs with `--port 0` (no server).
    """
    started: list[RuntimeProcess] = []

    def start(
        args: list[str], env: dict[str, str], *, health: bool = True, prefix: tuple[str, ...] = ()
    ) -> RuntimeProcess:
        head = ["--log-format", "json"] + ([] if health else ["--port", "0"])
        runtime = RuntimeProcess(
            [*head, *args],
            env=env,
            inherit_env=False,
            health=health,
            prefix=prefix,
            python=BOTS_PYTHON,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.kill(grace=TEARDOWN_GRACE)


@pytest.fixture(name="gateway")
def gateway_fixture(tmp_path: Path) -> Iterator[str]:
    """The URL of a real Pushgateway of this test's own (skipped where none is installed)."""
    if PUSHGATEWAY is None:
        pytest.skip("prometheus-pushgateway is not installed")
    with pushgateway(tmp_path) as url:
        yield url
