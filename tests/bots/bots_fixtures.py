"""The two fixtures of the Bots tests; test modules import them (pytest finds them by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bots_kit import ROOT, BotsDir, Runtime, free_port, have_bots, make_bots_dir, pid_alive

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture(name="bots_dir")
def bots_dir_fixture(tmp_path: Path) -> BotsDir:
    if not have_bots():
        pytest.skip("Bots EDI 3.3.1 is not installed next to this Python")
    return make_bots_dir(tmp_path / "bots")


@pytest.fixture(name="run_runtime")
def run_runtime_fixture() -> Iterator[Callable[..., Runtime]]:
    """Start `bots-runtime ARGS` with an environment; everything started is killed at the end."""
    started: list[Runtime] = []

    def start(
        args: list[str], env: dict[str, str], *, health: bool = True, prefix: tuple[str, ...] = ()
    ) -> Runtime:
        port = free_port() if health else 0
        argv = [
            *prefix,
            sys.executable,
            "-m",
            "bots_runtime",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-format",
            "json",
            *args,
        ]
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        runtime = Runtime(proc=proc, port=port, started=time.monotonic())
        runtime.start_reading()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        stop_everything(runtime)


def stop_everything(runtime: Runtime) -> None:
    """End a runtime a failed test left running, and the Bots processes it started.

    The Bots child runs in its own session, so killing the runtime's group would orphan it:
    ask the runtime to stop first, then SIGKILL what is left of it and of its children.
    """
    if runtime.proc.poll() is None:
        runtime.proc.send_signal(signal.SIGTERM)
        try:
            runtime.proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runtime.proc.pid, signal.SIGKILL)
            runtime.proc.wait(10)
    for record in runtime.find("child started"):
        pid = int(record["pid"])
        with contextlib.suppress(OSError):
            if pid_alive(pid) and "bots-" in Path(f"/proc/{pid}/cmdline").read_text():
                os.kill(pid, signal.SIGKILL)
    for stream in (runtime.proc.stdout, runtime.proc.stderr):
        if stream is not None:
            stream.close()
