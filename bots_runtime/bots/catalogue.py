"""The Bots EDI service catalogue: each Bots program as a `ServiceSpec` of plain defaults.

Every choice below comes from measuring Bots 3.3.1 (docs/bots.md has the table): all four
programs clean up only on SIGINT, the jobqueue server needs a second SIGINT, one SIGINT only
aborts the engine's current route step, the webserver starts engines it never waits for, and
`-c` must be absolute without a trailing slash. The defaults are data (`RULES`); the checks
come from the validated Bots environment. The user's explicit settings are applied on top by
the CLI layer (`overrides`), never here.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bots_runtime.bots import SERVICES, enginelock
from bots_runtime.bots import environment as botsenv
from bots_runtime.bots.database import DatabaseProbe
from bots_runtime.bots.programs import find_program, interpreter, path_first
from bots_runtime.bots.push import EngineRunPush
from bots_runtime.core import exit_codes
from bots_runtime.core.childenv import child_env
from bots_runtime.core.errors import SettingError
from bots_runtime.core.spec import (
    CheckSpec,
    Level,
    RestartPolicy,
    RestartSpec,
    ServiceSpec,
    StopPlan,
    StopStep,
)
from bots_runtime.web.probes import (
    FreeSpaceProbe,
    HttpProbe,
    PathExistsProbe,
    PathWritableProbe,
    TcpProbe,
    XmlRpcProbe,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

PROGRAMS = {name: f"bots-{name}" for name in SERVICES}
MIN_FREE_BYTES = 100 * 1024 * 1024
LOCK_FILE = ".bots-engine.lock"
SHIMS = Path(__file__).resolve().parent / "shims"


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """What a Bots service does by default, whatever its configuration."""

    stop: StopPlan
    restart: RestartSpec
    exit_meanings: Mapping[int, str] = field(default_factory=dict)


RULES: Mapping[str, ServiceRules] = {
    # SIGINT is the webserver's only clean stop; engines it started run on as leftovers.
    "webserver": ServiceRules(
        stop=StopPlan(
            steps=(StopStep(0.0, signal.SIGINT),),
            timeout=20.0,
            drain_delay=5.0,
            to_group=False,
            leftover_signal=signal.SIGINT,
            abort_signal=signal.SIGINT,
        ),
        restart=RestartSpec(policy=RestartPolicy.ON_FAILURE),
    ),
    # The first SIGINT closes the XML-RPC socket; the second ends the process.
    "jobqueueserver": ServiceRules(
        stop=StopPlan(
            steps=(StopStep(0.0, signal.SIGINT), StopStep(2.0, signal.SIGINT)),
            timeout=10.0,
            leftover_signal=signal.SIGINT,
            abort_signal=signal.SIGINT,
        ),
        restart=RestartSpec(policy=RestartPolicy.ON_FAILURE),
    ),
    "dirmonitor": ServiceRules(
        stop=StopPlan(
            steps=(StopStep(0.0, signal.SIGINT),),
            timeout=10.0,
            leftover_signal=signal.SIGINT,
            abort_signal=signal.SIGINT,
        ),
        restart=RestartSpec(policy=RestartPolicy.ON_FAILURE),
    ),
    # Let the run finish until 5 s before the deadline, then SIGINT every 2 s: one SIGINT only
    # aborts the route step that is running, and anything but SIGINT leaves the `mutex` row.
    # Every Bots service's abort (a second stop signal) is SIGINT at once, then every 2 s.
    "engine": ServiceRules(
        stop=StopPlan(
            steps=(StopStep(5.0, signal.SIGINT, repeat=2.0, before_deadline=True),),
            timeout=25.0,
            leftover_signal=signal.SIGINT,
            abort_signal=signal.SIGINT,
        ),
        restart=RestartSpec(policy=RestartPolicy.NEVER),
        exit_meanings={
            0: "ok",
            1: "system or configuration error",
            2: "run finished with errors",
            3: "lock port busy (another engine on this host)",
        },
    ),
}


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


def _webserver_checks(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
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
    return tuple(checks)


def _jobqueue_checks(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
    botsenv.require_jobqueue(env, "jobqueueserver")
    url = f"http://127.0.0.1:{env.jobqueue_port}/"
    return (
        CheckSpec(
            "xmlrpc",
            XmlRpcProbe(url),
            Level.READINESS,
            interval=1.0,
            timeout=2.0,
            description=(
                f"XML-RPC {url} answers (an unknown method's Fault counts; queue untouched)"
            ),
        ),
    )


def _dirmonitor_checks(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
    botsenv.require_jobqueue(env, "dirmonitor")
    return tuple(
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


_CHECKS: Mapping[str, Callable[[botsenv.BotsEnv], tuple[CheckSpec, ...]]] = {
    "webserver": _webserver_checks,
    "jobqueueserver": _jobqueue_checks,
    "dirmonitor": _dirmonitor_checks,
    "engine": lambda _env: (),
}


def _ports(name: str, env: botsenv.BotsEnv) -> dict[str, int]:
    if name == "webserver":
        return {"web": env.webserver_port}
    if name == "jobqueueserver":
        return {"jobqueue": env.jobqueue_port}
    if name == "engine":
        return {"engine-lock": env.engine_port}
    return {}


def _check_ports(env: botsenv.BotsEnv, used: Mapping[str, int], health_port: int | None) -> None:
    """bots.ini's ports must differ from each other and from the runtime's health port."""
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
    for name, port in used.items():
        if health_port and port == health_port:
            key = next(k for k, v in ports.items() if v == port)
            msg = (
                f"{env.ini_path}: {key} = {port} ({name}) is also the runtime's health port;"
                " change one of them (--port / BOTS_RUNTIME_PORT)"
            )
            raise SettingError(msg)


def service_spec(
    name: str,
    args: Sequence[str],
    environ: Mapping[str, str],
    *,
    bots_config: str,
    health_port: int | None,
    pushgateway: str | None = None,
    executable: str = sys.executable,
) -> ServiceSpec:
    """The default `ServiceSpec` of one Bots service; `SettingError` (one line) on a problem.

    `args` follow Bots' own `-c<config>`; `health_port` is only used to refuse a clash.
    """
    if name not in SERVICES:
        msg = f"unknown Bots service {name!r}; expected one of {', '.join(SERVICES)}"
        raise SettingError(msg, exit_codes.USAGE)
    program = find_program(PROGRAMS[name], environ, executable)
    env = botsenv.load(bots_config, child_env(environ), python=interpreter(program, executable))
    ports = _ports(name, env)
    _check_ports(env, ports, health_port)
    rules = RULES[name]
    checks = _CHECKS[name](env)
    config_dir = str(env.config_dir)
    extra = {
        "PATH": path_first(str(Path(program).parent), environ),
        "BOTS_CONFIG_DIR": config_dir,
    }
    if name == "webserver":
        extra.update(_gui_engine_lock(env, program, executable, extra["PATH"]))
    engine = name == "engine"
    return ServiceSpec(
        name=name,
        argv=(program, "-c" + config_dir, *args),
        env=child_env(environ, extra),
        stop=rules.stop,
        restart=rules.restart,
        checks=checks,
        exit_meanings=rules.exit_meanings,
        lock_path=str(env.botssys / LOCK_FILE) if engine else None,
        ports=ports,
        after_run=(EngineRunPush(pushgateway),) if engine and pushgateway else (),
    )


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


def shell_argv(args: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Bash when the image has it, else `$SHELL`, else sh; the user's arguments follow."""
    shell = "/bin/bash"
    if not os.access(shell, os.X_OK):
        shell = environ.get("SHELL") or "/bin/sh"
    return [shell, *args]


def shell_env(
    environ: Mapping[str, str], *, bots_config: str, executable: str = sys.executable
) -> dict[str, str]:
    """A service child's environment, with BOTS_CONFIG_DIR normalised for `-c$BOTS_CONFIG_DIR`.

    The configuration is not validated: a debugging shell must open even when it is broken.
    """
    extra = {"BOTS_CONFIG_DIR": str(botsenv.normalise(bots_config))}
    try:
        programs = str(Path(find_program(PROGRAMS["engine"], environ, executable)).parent)
    except SettingError:
        pass
    else:
        extra["PATH"] = path_first(programs, environ)
    return child_env(environ, extra)
