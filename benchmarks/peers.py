"""The rows of the comparison: bots-runtime, its peers and two baselines, and how each is started.

Each peer is configured as in ../shared/notes/peer-baselines.md so the numbers can be held
against those baselines. A peer that is not installed is recorded with the reason, not
silently dropped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CHILD = BENCH_DIR / "child.py"
REFERENCE_SERVER = BENCH_DIR / "reference_server.py"
PEERS_VENV = BENCH_DIR / ".venv-peers"

LIFE = "life"
ZOMBIES = "zombies"
FLOOD = "flood"
READYZ = "readyz"
EXEC = "exec"


@dataclass(frozen=True)
class Launch:
    """How to start one supervisor around one child."""

    argv: list[str]
    env: dict[str, str]
    port: int | None = None


@dataclass(frozen=True)
class Variant:
    """One row: a supervisor (or a baseline), which benches apply, and how to launch it."""

    name: str
    version: str
    source: str
    config: str
    benches: frozenset[str]
    build: Callable[[list[str], Path, dict[str, str]], Launch]
    available: bool = True
    reason: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_argv(fifo: Path, mode: str, *args: int) -> list[str]:
    """The child program with `-S`: no site-packages, a lean interpreter start."""
    return [sys.executable, "-S", str(CHILD), str(fifo), mode, *(str(a) for a in args)]


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text and done.returncode == 0 else f"unknown (rc {done.returncode})"


def _direct(child: list[str], _workdir: Path, env: dict[str, str]) -> Launch:
    return Launch(child, env)


def _tini(child: list[str], _workdir: Path, env: dict[str, str]) -> Launch:
    return Launch(["tini", "--", *child], env)


def _dumb_init(child: list[str], _workdir: Path, env: dict[str, str]) -> Launch:
    return Launch(["dumb-init", *child], env)


def _supervisord(child: list[str], workdir: Path, env: dict[str, str]) -> Launch:
    conf = workdir / "supervisord.conf"
    conf.write_text(
        "[supervisord]\n"
        f"logfile={workdir}/supervisord.log\n"
        f"pidfile={workdir}/supervisord.pid\n"
        "[program:svc]\n"
        f"command={' '.join(child)}\n"
        "stdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\n"
        "stderr_logfile=/dev/stderr\nstderr_logfile_maxbytes=0\n"
    )
    return Launch(["supervisord", "-n", "-c", str(conf)], env)


def _circus(child: list[str], workdir: Path, env: dict[str, str]) -> Launch:
    conf = workdir / "circus.ini"
    conf.write_text(
        "[circus]\n"
        f"endpoint = ipc://{workdir}/circus.sock\n"
        f"pubsub_endpoint = ipc://{workdir}/circus-pub.sock\n"
        "[watcher:svc]\n"
        f"cmd = {child[0]}\n"
        f"args = {' '.join(child[1:])}\n"
        "numprocesses = 1\n"
        "stdout_stream.class = StdoutStream\n"
        "stderr_stream.class = StdoutStream\n"
    )
    return Launch([str(PEERS_VENV / "bin" / "circusd"), str(conf)], env)


def runtime_argv(child_logs: str, port: int) -> list[str]:
    """bots-runtime's command line in front of the child (`--` then the child)."""
    return [
        sys.executable,
        "-m",
        "bots_runtime",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--child-logs",
        child_logs,
        "--log-format",
        "json",
        "--",
    ]


def _runtime(
    child_logs: str, src: Path = REPO
) -> Callable[[list[str], Path, dict[str, str]], Launch]:
    def build(child: list[str], _workdir: Path, env: dict[str, str]) -> Launch:
        port = free_port()
        env = {**env, "PYTHONPATH": str(src)}
        return Launch([*runtime_argv(child_logs, port), *child], env, port)

    return build


def _reference(_child: list[str], _workdir: Path, env: dict[str, str]) -> Launch:
    port = free_port()
    return Launch([sys.executable, str(REFERENCE_SERVER), str(port)], env, port)


def discover(alt_src: Path | None = None) -> list[Variant]:
    """Every row, in table order; missing tools are marked unavailable with the reason.

    `alt_src`, a directory holding another `bots_runtime` package (a patched copy), adds the
    row `bots-runtime-alt`, so a change can be judged against the current code in one run.
    """
    all_supervised = frozenset({LIFE, ZOMBIES, FLOOD})
    variants = [
        Variant(
            "direct",
            "-",
            "-",
            "the child alone (baseline)",
            all_supervised,
            _direct,
        )
    ]
    for name, build, conf in (
        ("tini", _tini, "tini -- CHILD"),
        ("dumb-init", _dumb_init, "dumb-init CHILD"),
        (
            "supervisord",
            _supervisord,
            "-n, one [program], stdout_logfile=/dev/stdout, *_maxbytes=0, other defaults",
        ),
    ):
        path = shutil.which(name)
        version = _version([name, "--version"]) if path else "-"
        variants.append(
            Variant(
                name,
                version.removeprefix("tini version ").removeprefix("dumb-init v").split(" - ")[0],
                f"Debian `{'supervisor' if name == 'supervisord' else name}` ({path})",
                conf,
                all_supervised,
                build,
                available=path is not None,
                reason="" if path else f"{name} not on PATH (apt-get install {name})",
            )
        )
    circusd = PEERS_VENV / "bin" / "circusd"
    variants.append(
        Variant(
            "circus",
            _version([str(circusd), "--version"]) if circusd.exists() else "-",
            "PyPI `circus` in benchmarks/.venv-peers",
            "one watcher, StdoutStream for both streams, ipc endpoints, other defaults",
            all_supervised,
            _circus,
            available=circusd.exists(),
            reason="" if circusd.exists() else "circus not installed: run `benchmarks/setup`",
        )
    )
    runtime_version = (
        _version([sys.executable, "-m", "bots_runtime", "--version"])
        if _runtime_importable()
        else "-"
    )
    runtime_ok = not runtime_version.startswith(("unknown", "-"))
    reason = "" if runtime_ok else f"`python -m bots_runtime --version` failed: {runtime_version}"
    variants += [
        Variant(
            "bots-runtime",
            runtime_version.removeprefix("bots-runtime "),
            "this repository",
            "run --port P (HTTP + metrics on) --child-logs wrap --log-format json",
            frozenset({LIFE, ZOMBIES, FLOOD, READYZ}),
            _runtime("wrap"),
            available=runtime_ok,
            reason=reason,
        ),
        Variant(
            "bots-runtime-raw",
            runtime_version.removeprefix("bots-runtime "),
            "this repository",
            "as bots-runtime, with --child-logs raw",
            frozenset({FLOOD}),
            _runtime("raw"),
            available=runtime_ok,
            reason=reason,
        ),
        Variant(
            "reference-http",
            _uvicorn_version(),
            "benchmarks/reference_server.py",
            "minimal starlette app on uvicorn (h11, asyncio loop), /readyz -> 200",
            frozenset({READYZ}),
            _reference,
        ),
    ]
    if alt_src is not None:
        ok = (alt_src / "bots_runtime" / "cli.py").exists()
        variants.append(
            Variant(
                "bots-runtime-alt",
                runtime_version.removeprefix("bots-runtime "),
                str(alt_src),
                "as bots-runtime, from the --runtime-src copy",
                frozenset({LIFE, ZOMBIES, FLOOD, READYZ}),
                _runtime("wrap", alt_src),
                available=ok and runtime_ok,
                reason="" if ok else f"no bots_runtime/cli.py under {alt_src}",
            )
        )
    return variants


def _runtime_importable() -> bool:
    return (REPO / "bots_runtime" / "cli.py").exists()


def _uvicorn_version() -> str:
    from importlib.metadata import version  # noqa: PLC0415 - only needed for this label

    return f"uvicorn {version('uvicorn')}, starlette {version('starlette')}"


def base_env() -> dict[str, str]:
    """The environment every launch starts from: ours minus Python variables that change startup."""
    drop = {
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONDEVMODE",
        "PYTHONTRACEMALLOC",
        "PYTHONPROFILEIMPORTTIME",
    }
    return {k: v for k, v in os.environ.items() if k not in drop}
