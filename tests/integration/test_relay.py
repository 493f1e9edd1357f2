"""The child's output through the relay: exact counts, long lines, binary data, last line."""

import json
import signal

from tests.support import PYTHON, ChildCmd, RuntimeFactory, RuntimeProcess

LINES = 200_000


def run_to_end(runtime: RuntimeFactory, *args: str) -> RuntimeProcess:
    rt: RuntimeProcess = runtime("--port", "0", *args)
    assert rt.wait(120) == 0
    return rt


def test_flood_wrapped_exact_count_nothing_mangled(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = run_to_end(runtime, "run", "--", *child_cmd("--flood", str(LINES), "--then-exit", "0"))
    payload = "x" * 99
    events = rt.events()
    child = [e for e in events if e.get("logger") == "child" and e["stream"] == "stdout"]
    assert sum(1 for e in child if e["event"] == payload) == LINES
    for line in rt.stdout:
        json.loads(line)  # every output line, ours or the child's, is one whole JSON object


def test_flood_raw_byte_exact(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    rt = run_to_end(
        runtime,
        "--child-logs",
        "raw",
        "run",
        "--",
        *child_cmd("--flood", str(LINES), "--then-exit", "0"),
    )
    body = [line for line in rt.stdout if not line.startswith(b"{")]
    expected = b"x" * 99 + b"\n"
    assert sum(1 for line in body if line == expected) == LINES
    assert all(line == expected or line.startswith(b"ready") for line in body)


def test_long_line_is_split_and_marked_not_lost(runtime: RuntimeFactory) -> None:
    code = "import sys; sys.stdout.write('a' * 200000 + '\\n'); sys.stdout.flush()"
    rt = run_to_end(runtime, "run", "--", PYTHON, "-c", code)
    pieces = [e for e in rt.events() if e.get("logger") == "child"]
    assert "".join(p["event"] for p in pieces) == "a" * 200000
    assert [p.get("partial", False) for p in pieces] == [True, True, True, False]


def test_line_longer_than_one_read_but_under_the_limit_stays_whole(
    runtime: RuntimeFactory,
) -> None:
    """The relay reads 16 KiB at a time; a 60,000-byte line is still one event, not pieces."""
    code = "import os; os.write(1, b'b' * 60000 + b'\\n')"
    rt = run_to_end(runtime, "run", "--", PYTHON, "-c", code)
    pieces = [e for e in rt.events() if e.get("logger") == "child"]
    assert [(len(str(p["event"])), p.get("partial", False)) for p in pieces] == [(60000, False)]


def test_invalid_utf8_is_escaped_not_fatal(runtime: RuntimeFactory) -> None:
    code = "import os; os.write(1, b'ok \\xff\\xfe end\\n')"
    rt = run_to_end(runtime, "run", "--", PYTHON, "-c", code)
    assert rt.child_lines() == ["ok \\xff\\xfe end"]


def test_raw_binary_passes_through_unchanged(runtime: RuntimeFactory) -> None:
    code = "import os; os.write(1, bytes(range(256)).replace(b'\\n', b'') + b'\\n')"
    rt = run_to_end(runtime, "--child-logs", "raw", "run", "--", PYTHON, "-c", code)
    expected = bytes(range(256)).replace(b"\n", b"") + b"\n"
    assert expected in rt.stdout


def test_last_line_without_newline_is_flushed_before_exit_event(runtime: RuntimeFactory) -> None:
    rt = run_to_end(runtime, "run", "--", PYTHON, "-c", "import os; os.write(2, b'tail')")
    assert rt.child_lines("stderr") == ["tail"]
    names = [e["event"] for e in rt.events()]
    assert names.index("tail") < names.index("child exited")


def test_stderr_and_stdout_are_labelled(runtime: RuntimeFactory) -> None:
    code = "import os; os.write(1, b'out\\n'); os.write(2, b'err\\n')"
    rt = run_to_end(runtime, "run", "--", PYTHON, "-c", code)
    assert rt.child_lines("stdout") == ["out"]
    assert rt.child_lines("stderr") == ["err"]


def test_console_format_is_readable(runtime: RuntimeFactory) -> None:
    rt = run_to_end(runtime, "--log-format", "console", "run", "--", PYTHON, "-c", "print('hello')")
    text = b"".join(rt.stdout).decode()
    assert "stdout | hello" in text
    assert "child exited" in text
    assert not text.lstrip().startswith("{")


def test_unbuffered_python_child_lines_arrive_before_exit(runtime: RuntimeFactory) -> None:
    """PYTHONUNBUFFERED=1 is set for the child: print() reaches the relay at once."""
    code = "import time; print('first'); time.sleep(30)"
    rt = runtime("--port", "0", "run", "--", PYTHON, "-c", code)
    rt.wait_child_line("first")
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 128 + signal.SIGTERM


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_flood_with_stalled_reader_blocks_the_child_not_our_memory(child_cmd: ChildCmd) -> None:
    """1. the child floods 2 M lines (200 MB) 2. nobody reads our stdout for a while
    3. the runtime's memory stays small and the child is still blocked writing
    4. reading resumes: every line arrives."""
    import subprocess  # noqa: PLC0415
    import time  # noqa: PLC0415

    from tests.support import ROOT  # noqa: PLC0415

    lines = 2_000_000
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "bots_runtime",
            "--port",
            "0",
            "--child-logs",
            "raw",
            "run",
            "--",
            *child_cmd("--flood", str(lines), "--then-exit", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the runtime has started and is relaying
        assert first
        time.sleep(1.5)  # measuring a stall, not synchronising
        assert proc.poll() is None
        assert vm_rss_kib(proc.pid) < 120_000
        count = sum(1 for line in proc.stdout if line == b"x" * 99 + b"\n")
        assert proc.wait(60) == 0
        assert count == lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_own_events_never_cut_a_child_line(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    """Raw mode, 8 KB lines flooding while the runtime logs an event per forwarded signal."""
    rt = runtime(
        "--port",
        "0",
        "--log-level",
        "debug",
        "--child-logs",
        "raw",
        "run",
        "--",
        *child_cmd("--ignore", "USR1", "--flood", "30000", "--size", "8000", "--then-exit", "0"),
    )
    rt.wait_event("child started")
    sent = 0
    while rt.proc.poll() is None and sent < 300:
        try:
            rt.signal(signal.SIGUSR1)
        except ProcessLookupError:
            break
        sent += 1
    assert rt.wait(60) == 0
    payload = b"x" * 7999 + b"\n"
    body = [line for line in rt.stdout if not line.startswith(b"{")]
    assert sum(1 for line in body if line == payload) == 30000
    for line in rt.stdout:
        if line.startswith(b"{"):
            json.loads(line)


def test_auto_log_format_is_console_on_a_terminal_and_json_otherwise() -> None:
    """With the default --log-format auto, a TTY stdout gets console text, a pipe gets JSON."""
    import os  # noqa: PLC0415
    import pty  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    from tests.support import ROOT  # noqa: PLC0415

    argv = [PYTHON, "-m", "bots_runtime", "--port", "0", "run", "--", PYTHON, "-c", "print(1)"]
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.DEVNULL, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the last writer is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(30) == 0
    tty_text = b"".join(chunks).decode(errors="replace")
    assert "child exited" in tty_text
    assert not any(line.lstrip().startswith("{") for line in tty_text.splitlines() if line)

    piped = subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=30, check=True)
    lines = [line for line in piped.stdout.decode().splitlines() if line]
    assert lines
    assert all(line.startswith("{") for line in lines)
