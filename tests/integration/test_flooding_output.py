"""A child that prints without pause, to a reader that keeps up: probes and stop go on.

The opposite of test_stalled_output: the runtime's stdout is /dev/null, so the writer thread
always has room and the relay never has to wait for it. The relay must still give the event
loop back between chunks, or the HTTP server and the signal receiver get no turn for as long
as the child keeps printing (before the fix: /healthz timed out for the whole flood).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import PYTHON, wait_until
from tests.support.runtime import ROOT

#: `yes` prints this line (99 bytes and the newline) as fast as the pipe takes it.
LINE = "x" * 99


@pytest.fixture(name="flooding")
def _flooding() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with tempfile.TemporaryDirectory(prefix="bots-runtime-flood-") as tmp:
        port_file = Path(tmp) / "port"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTS_RUNTIME_")}
        proc = subprocess.Popen(
            [
                PYTHON, "-m", "bots_runtime", "--host", "127.0.0.1", "--port", "auto",
                "--port-file", str(port_file), "--log-format", "json", "--stop-timeout", "5",
                "run", "--", "yes", LINE,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        try:
            port = int(wait_until(lambda: _read_int(port_file), 15, "the port file"))
            yield proc, port
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of GET `path`; status 0 when there is no answer within 2 s."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()
    except OSError:
        return 0, ""


def relayed(body: str) -> float:
    for line in body.splitlines():
        if line.startswith('bots_runtime_log_lines_total{stream="stdout"} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_probes_and_sigterm_are_answered_while_the_child_floods(
    flooding: tuple[subprocess.Popen[bytes], int],
) -> None:
    """1. `yes` prints 100-byte lines without pause; the runtime relays them to /dev/null
    2. every /healthz and /metrics request in 2 s of the flood answers 200 inside 2 s, and
       the relayed line count keeps rising between them (the flood is on throughout)
    3. SIGTERM reaches `yes` at once: the runtime exits with its 143 well inside the budget."""
    proc, port = flooding
    statuses: list[int] = []
    counts: list[float] = []
    until = time.monotonic() + 2.0
    while time.monotonic() < until:
        statuses.append(get(port, "/healthz")[0])
        status, body = get(port, "/metrics")
        statuses.append(status)
        counts.append(relayed(body))
    assert statuses, "no request was made"
    assert set(statuses) == {200}, f"statuses during the flood: {sorted(set(statuses))}"
    assert len(counts) >= 5
    assert counts[-1] > counts[0] > 0, "the flood was not under way"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 128 + signal.SIGTERM
    assert time.monotonic() - sent < 2.0


def _read_int(path: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return 0
