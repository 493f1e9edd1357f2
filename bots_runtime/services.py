"""The Bots EDI service catalogue: each service as data on top of the generic supervisor.

Every choice below comes from measuring Bots 3.3.1 (docs/bots.md has the table): all four
programs clean up only on SIGINT, the jobqueue server needs a second SIGINT, one SIGINT only
aborts the engine's current route step, the webserver starts engines it never waits for, and
`-c` must be absolute without a trailing slash. The supervisor never asks which service it runs;
it gets a `ServiceSpec`, and the user's explicit flags are applied on top by `plan`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from bots_runtime import botsenv, enginelock, exit_codes, plan
from bots_runtime.checks import (
    FreeSpaceProbe,
    HttpProbe,
    PathExistsProbe,
    PathWritableProbe,
    TcpProbe,
    XmlRpcProbe,
)
from bots_runtime.config import SettingError
from bots_runtime.spec import (
    CheckFailedError,
    CheckSpec,
    Level,
    RestartPolicy,
    RestartSpec,
    ServiceSpec,
    StopPlan,
    StopStep,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from bots_runtime.config import Invocation

SERVICES = ("webserver", "engine", "jobqueueserver", "dirmonitor")
PROGRAMS = {name: f"bots-{name}" for name in SERVICES}
MIN_FREE_BYTES = 100 * 1024 * 1024
ENGINE_STOP_TIMEOUT = 25.0
ENGINE_STOP_MARGIN = 5.0
ENGINE_SIGINT_EVERY = 2.0
LOCK_FILE = ".bots-engine.lock"
SHIMS = Path(__file__).resolve().parent / "shims"
ENGINE_EXIT_MEANINGS = {
    0: "ok",
    1: "system or configuration error",
    2: "run finished with errors",
    3: "lock port busy (another engine on this host)",
}


@dataclass(frozen=True, slots=True)
class DatabaseProbe:
    """Ready when Bots' database answers a query on the `mutex` table.

    The webserver serves `/` without touching the database, so `GET /` alone cannot see a
    missing SQLite file or an unreachable PostgreSQL server; this does, like the reference
    deployment's `SELECT 1`. The password is only used to connect, never shown.
    """

    database: botsenv.Database
    connect_timeout: int = 2

    async def __call__(self) -> str:
        """Run the query in a worker thread (the drivers block)."""
        import anyio.to_thread  # noqa: PLC0415 - kept out of start-up

        try:
            return await anyio.to_thread.run_sync(self._query, abandon_on_cancel=True)
        except CheckFailedError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error means not ready
            text = " ".join(str(exc).split()) or type(exc).__name__
            msg = f"{self.database.describe()}: {text}"
            raise CheckFailedError(msg) from None

    def _query(self) -> str:
        db = self.database
        if db.is_sqlite:
            import sqlite3  # noqa: PLC0415 - only SQLite setups need it

            if not Path(db.name).is_file():
                msg = f"{db.name} does not exist"
                raise CheckFailedError(msg)
            connection = sqlite3.connect(
                f"file:{quote(db.name)}?mode=ro", uri=True, timeout=self.connect_timeout
            )
            try:
                (rows,) = connection.execute("SELECT COUNT(*) FROM mutex").fetchone()
            finally:
                connection.close()
        elif db.is_postgresql:
            import psycopg2  # noqa: PLC0415 - only PostgreSQL setups need it

            pg = psycopg2.connect(
                host=db.host or None,
                port=db.port or None,
                dbname=db.name,
                user=db.user or None,
                password=db.password or None,
                connect_timeout=self.connect_timeout,
            )
            try:
                with pg.cursor() as cursor:
                    cursor.execute("SELECT COUNT(*) FROM mutex")
                    (rows,) = cursor.fetchone()
            finally:
                pg.close()
        else:
            return f"{db.describe()}: not checked"
        state = "an engine is running or died" if rows else "no engine lock"
        return f"{db.describe()} answers ({state})"


def find_program(name: str, environ: Mapping[str, str], executable: str = sys.executable) -> str:
    """A Bots program next to our interpreter (the image's venv), else on the child's PATH."""
    beside = Path(executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name, path=environ.get("PATH", os.defpath))
    if found is None:
        msg = (
            f"{name}: program not found next to {executable} or on PATH"
            " (install bots-runtime[bots])"
        )
        raise SettingError(msg, exit_codes.NOT_FOUND)
    return str(Path(found).absolute())


def interpreter(program: str, fallback: str = sys.executable) -> str:
    """The Python a Bots program runs with (its `#!` line), to evaluate settings.py the same way."""
    try:
        with Path(program).open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return fallback
    if first.startswith(b"#!"):
        words = first[2:].decode(errors="replace").split()
        # Only a direct `#!/path/pythonX`: pip writes `#!/bin/sh` wrappers for long paths.
        if (
            words
            and Path(words[0]).is_absolute()
            and Path(words[0]).name.startswith("python")
            and os.access(words[0], os.X_OK)
        ):
            return words[0]
    return fallback


def _path_first(directory: str, environ: Mapping[str, str]) -> str:
    """PATH with `directory` first: the webserver starts `bots-engine` through PATH."""
    rest = [p for p in environ.get("PATH", os.defpath).split(os.pathsep) if p and p != directory]
    return os.pathsep.join([directory, *rest])


def _check_ports(env: botsenv.BotsEnv, invocation: Invocation, used: Mapping[str, int]) -> None:
    ports = {
        "[settings] port": env.engine_port,
        "[webserver] port": env.webserver_port,
        "[jobqueue] port": env.jobqueue_port,
    }
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            msg = f"{env.ini_path}: {key} = {port} is the same as {seen[port]}; use distinct ports"
            raise SettingError(msg)
        seen[port] = key
    own = invocation.config.port
    for name, port in used.items():
        if own and port == own:
            key = next(k for k, v in ports.items() if v == port)
            msg = (
                f"{env.ini_path}: {key} = {port} ({name}) is also the runtime's health port;"
                " change one of them (--port / BOTS_RUNTIME_PORT)"
            )
            raise SettingError(msg)


def _storage_checks(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
    botssys = str(env.botssys)
    return (
        CheckSpec(
            "botssys-writable",
            PathWritableProbe(botssys),
            Level.READINESS,
            interval=10.0,
            timeout=5.0,
            description=f"a file can be created in {botssys}",
        ),
        CheckSpec(
            "botssys-free-space",
            FreeSpaceProbe(botssys, MIN_FREE_BYTES),
            Level.READINESS,
            interval=30.0,
            timeout=5.0,
            description=f"at least {MIN_FREE_BYTES // (1024 * 1024)} MiB free in {botssys}",
        ),
    )


def _web_check(env: botsenv.BotsEnv) -> CheckSpec:
    if env.webserver_tls:
        # Bots' certificate is usually self-signed for the pod; a TCP accept is what we can
        # check without trusting it.
        return CheckSpec(
            "web",
            TcpProbe("127.0.0.1", env.webserver_port),
            Level.READINESS,
            interval=1.0,
            timeout=2.0,
            description=f"127.0.0.1:{env.webserver_port} accepts connections (https)",
        )
    url = f"http://127.0.0.1:{env.webserver_port}/"
    return CheckSpec(
        "web",
        HttpProbe(url, (200, 200)),
        Level.READINESS,
        interval=1.0,
        timeout=2.0,
        description=f"GET {url} answers 200",
    )


def _webserver(env: botsenv.BotsEnv) -> tuple[StopPlan, RestartSpec, tuple[CheckSpec, ...]]:
    checks = [_web_check(env), *_storage_checks(env)]
    if env.database is not None:
        checks.append(
            CheckSpec(
                "database",
                DatabaseProbe(env.database),
                Level.READINESS,
                interval=5.0,
                timeout=4.0,
                failure_threshold=2,
                description=f"{env.database.describe()} answers a query on the mutex table",
            )
        )
    stop = StopPlan(
        steps=(StopStep(0.0, signal.SIGINT),),
        timeout=20.0,
        drain_delay=5.0,
        to_group=False,
        leftover_signal=signal.SIGINT,
        leftover_margin=5.0,
    )
    return stop, RestartSpec(policy=RestartPolicy.ON_FAILURE), tuple(checks)


def _jobqueueserver(env: botsenv.BotsEnv) -> tuple[StopPlan, RestartSpec, tuple[CheckSpec, ...]]:
    botsenv.require_jobqueue(env, "jobqueueserver")
    url = f"http://127.0.0.1:{env.jobqueue_port}/"
    check = CheckSpec(
        "xmlrpc",
        XmlRpcProbe(url),
        Level.READINESS,
        interval=1.0,
        timeout=2.0,
        description=f"XML-RPC {url} answers (an unknown method's Fault counts; queue untouched)",
    )
    stop = StopPlan(
        steps=(StopStep(0.0, signal.SIGINT), StopStep(2.0, signal.SIGINT)),
        timeout=10.0,
        leftover_signal=signal.SIGINT,
    )
    return stop, RestartSpec(policy=RestartPolicy.ON_FAILURE), (check,)


def _dirmonitor(env: botsenv.BotsEnv) -> tuple[StopPlan, RestartSpec, tuple[CheckSpec, ...]]:
    botsenv.require_jobqueue(env, "dirmonitor")
    checks = tuple(
        CheckSpec(
            f"watch-{section}",
            PathExistsProbe(path),
            Level.READINESS,
            interval=5.0,
            timeout=2.0,
            description=f"[{section}] path {path} exists (Bots logs nothing when it is missing)",
        )
        for section, path in botsenv.require_dirmonitors(env)
    )
    stop = StopPlan(
        steps=(StopStep(0.0, signal.SIGINT),), timeout=10.0, leftover_signal=signal.SIGINT
    )
    return stop, RestartSpec(policy=RestartPolicy.ON_FAILURE), checks


def engine_stop_plan(timeout: float) -> StopPlan:
    """Let the run finish until `timeout` minus a margin, then SIGINT every 2 s, SIGKILL last.

    One SIGINT only aborts the route step that is running, so it is repeated; anything but
    SIGINT leaves Bots' `mutex` row behind, so SIGKILL comes only at the deadline.
    """
    at = max(0.0, timeout - ENGINE_STOP_MARGIN)
    return StopPlan(
        steps=(StopStep(at, signal.SIGINT, repeat=ENGINE_SIGINT_EVERY),),
        timeout=timeout,
        leftover_signal=signal.SIGINT,
    )


def _engine(invocation: Invocation) -> tuple[StopPlan, RestartSpec, tuple[CheckSpec, ...]]:
    timeout = invocation.config.stop_timeout
    stop = engine_stop_plan(ENGINE_STOP_TIMEOUT if timeout is None else timeout)
    return stop, RestartSpec(policy=RestartPolicy.NEVER), ()


def _ports(name: str, env: botsenv.BotsEnv) -> dict[str, int]:
    if name == "webserver":
        return {"web": env.webserver_port}
    if name == "jobqueueserver":
        return {"jobqueue": env.jobqueue_port}
    if name == "engine":
        return {"engine-lock": env.engine_port}
    return {}


def bots_spec(
    name: str, invocation: Invocation, *, executable: str = sys.executable
) -> ServiceSpec:
    """The `ServiceSpec` for one Bots service; `SettingError` (one line) on a config problem."""
    if name not in SERVICES:
        msg = f"unknown Bots service {name!r}; expected one of {', '.join(SERVICES)}"
        raise SettingError(msg, exit_codes.USAGE)
    program = find_program(PROGRAMS[name], invocation.environ, executable)
    env = botsenv.load(
        invocation.config.bots_config,
        plan.child_env(invocation.environ),
        python=interpreter(program, executable),
    )
    ports = _ports(name, env)
    _check_ports(env, invocation, ports)
    builders: dict[
        str, Callable[[botsenv.BotsEnv], tuple[StopPlan, RestartSpec, tuple[CheckSpec, ...]]]
    ] = {
        "webserver": _webserver,
        "jobqueueserver": _jobqueueserver,
        "dirmonitor": _dirmonitor,
        "engine": lambda _env: _engine(invocation),
    }
    default_stop, default_restart, checks = builders[name](env)
    config_dir = str(env.config_dir)
    extra = {
        "PATH": _path_first(str(Path(program).parent), invocation.environ),
        "BOTS_CONFIG_DIR": config_dir,
    }
    if name == "webserver":
        extra.update(_gui_engine_lock(env, program, executable, extra["PATH"]))
    spec = ServiceSpec(
        name=name,
        argv=(program, "-c" + config_dir, *invocation.args),
        env=plan.child_env(invocation.environ, extra),
        stop=plan.stop_plan(invocation.config, default_stop),
        restart=plan.restart_spec(invocation.config, default_restart),
        checks=checks,
        batch=name == "engine",
        ports=ports,
    )
    if name == "engine":
        spec = replace(
            spec,
            lock_path=str(env.botssys / LOCK_FILE),
            exit_meanings=dict(ENGINE_EXIT_MEANINGS),
        )
    return plan.with_user_settings(spec, invocation.config)


def _gui_engine_lock(
    env: botsenv.BotsEnv, webserver: str, executable: str, path: str
) -> dict[str, str]:
    """Put the locking `bots-engine` shim first on the webserver's PATH (see enginelock)."""
    engine = Path(webserver).parent / PROGRAMS["engine"]
    if not (SHIMS / "bots-engine").is_file() or not engine.is_file():
        return {}
    return {
        "PATH": f"{SHIMS}{os.pathsep}{path}",
        enginelock.PROGRAM_VAR: str(engine),
        enginelock.LOCK_VAR: str(env.botssys / LOCK_FILE),
        enginelock.PYTHON_VAR: executable,
    }


def _programs_dir(environ: Mapping[str, str], executable: str) -> str | None:
    try:
        return str(Path(find_program(PROGRAMS["engine"], environ, executable)).parent)
    except SettingError:
        return None


def shell_argv(invocation: Invocation) -> list[str]:
    """Bash when the image has it, else `$SHELL`, else sh; the user's arguments follow."""
    shell = "/bin/bash"
    if not os.access(shell, os.X_OK):
        shell = invocation.environ.get("SHELL") or "/bin/sh"
    return [shell, *invocation.args]


def shell_env(invocation: Invocation, *, executable: str = sys.executable) -> dict[str, str]:
    """A service child's environment, with BOTS_CONFIG_DIR normalised for `-c$BOTS_CONFIG_DIR`.

    The configuration is not validated: a debugging shell must open even when it is broken.
    """
    config_dir = str(botsenv.normalise(invocation.config.bots_config))
    extra = {"BOTS_CONFIG_DIR": config_dir}
    programs = _programs_dir(invocation.environ, executable)
    if programs is not None:
        extra["PATH"] = _path_first(programs, invocation.environ)
    return plan.child_env(invocation.environ, extra)
