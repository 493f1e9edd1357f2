"""Bad input before the child runs: one line, a documented code, never a traceback."""

import contextlib
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from bots_runtime import config
from tests.support import PYTHON, ROOT, RuntimeFactory


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BOTS_RUNTIME_")}
    full.update(env or {})
    return subprocess.run(
        [PYTHON, "-m", "bots_runtime", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env=full,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bots-runtime: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "env", "code", "needle"),
    [
        ((), {}, 64, "no command"),
        (("--bogus", "x"), {}, 64, "--bogus"),
        (("run",), {}, 64, "run needs a command"),
        (("--stop-timeout", "-3", "x"), {}, 78, "--stop-timeout"),
        (("--stop-signal", "NOPE", "x"), {}, 78, "--stop-signal"),
        (("--signal-rewrite", "TERM-INT", "x"), {}, 78, "--signal-rewrite"),
        (("x",), {"BOTS_RUNTIME_RESTART": "often"}, 78, "BOTS_RUNTIME_RESTART"),
        (("--port", "0", "definitely-not-a-program-xyz"), {}, 127, "command not found"),
    ],
)
def test_bad_input_is_one_line_with_documented_code(
    args: tuple[str, ...], env: dict[str, str], code: int, needle: str
) -> None:
    result = cli(*args, env=env)
    assert result.returncode == code
    assert needle in one_line_error(result)


def test_not_executable_is_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    result = cli("--port", "0", str(script))
    assert result.returncode == 126
    assert "not executable" in one_line_error(result)


def test_port_in_use_fails_fast_without_starting_the_child(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("--host", "127.0.0.1", "--port", str(port), "touch", str(marker))
    assert result.returncode == 69
    assert str(port) in one_line_error(result)
    assert not marker.exists()


def test_help_and_version() -> None:
    assert cli("--help").returncode == 0
    assert "BOTS_RUNTIME_STOP_TIMEOUT" in cli("--help").stdout
    version = cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("bots-runtime ")


def test_port_auto_binds_a_free_port_and_reports_it(runtime: RuntimeFactory) -> None:
    """1. `--port auto --port-file F`: the kernel picks the port
    2. the file and the "health server listening" event name the same port, before the child
    3. that port answers /healthz, and `probe --port-file F` finds it too."""
    rt = runtime("sleep", "30", health=True)
    assert "--port-file" in rt.argv
    listening = rt.wait_event("health server listening")
    assert rt.port == listening["port"] > 0
    assert listening["port"] != config.DEFAULT_PORT
    rt.wait_status("/healthz", 200)
    probe = cli("probe", "healthz", "--port-file", str(rt.port_file))
    assert probe.returncode == 0, probe.stdout
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 143


def test_port_file_that_cannot_be_written_is_a_configuration_error(tmp_path: Path) -> None:
    """A port file in a missing folder: one line, exit 78, and the child never starts."""
    marker = tmp_path / "started"
    target = tmp_path / "missing" / "port"
    result = cli("--port", "auto", "--port-file", str(target), "touch", str(marker))
    assert result.returncode == 78
    assert "--port-file" in one_line_error(result)
    assert not marker.exists()


def test_probe_without_a_port_says_so() -> None:
    """`probe` with a port file that names no running runtime: exit 1 and one line."""
    result = cli("probe", "readyz", "--port-file", "/nonexistent/port")
    assert result.returncode == 1
    assert "no port to probe" in result.stdout


def test_missing_interpreter_is_127(tmp_path: Path) -> None:
    """A script whose #! interpreter is missing: one line naming it, 127 (no child runs)."""
    script = tmp_path / "script"
    script.write_text("#!/nonexistent/python3\nprint('hi')\n")
    script.chmod(0o755)
    result = cli("--port", "0", str(script))
    assert result.returncode == 127
    assert "/nonexistent/python3" in one_line_error(result)


def binfmt_handlers() -> bool:
    with contextlib.suppress(OSError):
        return bool(set(os.listdir("/proc/sys/fs/binfmt_misc")) - {"register", "status"})
    return False


@pytest.mark.skipif(binfmt_handlers(), reason="a binfmt_misc handler may take any file here")
def test_file_that_is_no_program_is_126(tmp_path: Path) -> None:
    """Executable but neither ELF nor a #! script: "Exec format error", 126."""
    junk = tmp_path / "junk"
    junk.write_text("just text\n")
    junk.chmod(0o755)
    result = cli("--port", "0", str(junk))
    assert result.returncode == 126
    assert "Exec format error" in one_line_error(result)
