"""The Bots EDI service catalogue: each Bots program as a `ServiceSpec` of plain defaults.

Every choice comes from measuring the real programs (docs/bots.md has the tables): all four
clean up only on SIGINT, `-c` is given absolute without a trailing slash, and what differs
between Bots generations (stop plans, exit meanings, success codes) is data in `generation`,
picked by the Bots version found while validating the environment. The checks come from that
validated environment. The user's explicit settings are applied on top by the CLI layer
(`overrides`), never here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bots_runtime.bots import SERVICES, enginelock
from bots_runtime.bots import environment as botsenv
from bots_runtime.bots import generation as generations
from bots_runtime.bots.database import DatabaseProbe
from bots_runtime.bots.enginerun import EngineRunWatch
from bots_runtime.bots.jobqueue import JobqueueGate
from bots_runtime.bots.programs import find_program, interpreter, path_first
from bots_runtime.bots.recent import RecentEdi
from bots_runtime.core import exit_codes
from bots_runtime.core.childenv import child_env
from bots_runtime.core.errors import SettingError
from bots_runtime.core.hooks import CollectorSpec, StartGate
from bots_runtime.core.spec import CheckSpec, Level, ServiceSpec
from bots_runtime.process import mounts
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
#: Services that start `bots-engine` themselves, and what such a run is called in the log.
ENGINE_STARTERS = {"webserver": "GUI run", "jobqueueserver": "queued run", "shell": "shell run"}


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
    host = probe_host(env.allowed_hosts)
    return CheckSpec(
        "web",
        HttpProbe(url, (200, 200), host=host),
        Level.READINESS,
        interval=1.0,
        timeout=2.0,
        description=f"GET {url}"
        + (f" with Host: {host} (settings.py's ALLOWED_HOSTS)" if host else "")
        + " answers 200",
    )


def probe_host(allowed: Sequence[str] | None) -> str | None:
    """A Host the web check may send when settings.py's ALLOWED_HOSTS refuses 127.0.0.1.

    Django answers 400 to a Host it does not allow. None keeps `127.0.0.1:<port>`: allowed
    (`*` or the address itself), unknown, or nothing allowed at all (then 400 is the right
    verdict). Otherwise the first name: `.example.com` allows example.com, as Django matches it.
    """
    names = [name.strip() for name in allowed or () if name.strip()]
    if not names or any(name in {"*", "127.0.0.1"} for name in names):
        return None
    first = names[0]
    return first[1:] if first.startswith(".") and len(first) > 1 else first


def _webserver_checks(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
    checks = [_web_check(env), *_storage_checks(env), *_webserver_jobqueue(env)]
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


def _xmlrpc_check(env: botsenv.BotsEnv, name: str, interval: float) -> CheckSpec:
    url = f"http://127.0.0.1:{env.jobqueue_port}/"
    return CheckSpec(
        name,
        XmlRpcProbe(url),
        Level.READINESS,
        interval=interval,
        timeout=2.0,
        description=f"XML-RPC {url} answers (an unknown method's Fault counts; queue untouched)",
    )


def _jobqueue_checks(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
    botsenv.require_jobqueue(env, "jobqueueserver")
    return (_xmlrpc_check(env, "xmlrpc", interval=1.0),)


def _mount_table() -> tuple[mounts.Mount, ...]:
    """The process's mounts; none when /proc is missing or unreadable (then no warning)."""
    try:
        return mounts.read()
    except (OSError, mounts.MountInfoError):
        return ()


def _watch_warning(path: str, table: Sequence[mounts.Mount]) -> str:
    """Why bots-dirmonitor may miss files in `path`, or "" when its mount is local."""
    mount = mounts.mount_of(path, table)
    kind = mount.remote if mount is not None else None
    if mount is None or kind is None:
        return ""
    return (
        f"{path} is on {mount.fstype}, {kind} (mounted at {mount.mount_point}):"
        " bots-dirmonitor watches with inotify and does not see files that other clients"
        " write there; the scheduled engine run still picks them up"
    )


def _dirmonitor_checks(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
    botsenv.require_jobqueue(env, "dirmonitor")
    watched = botsenv.require_dirmonitors(env)
    table = _mount_table()
    watches = tuple(
        CheckSpec(
            f"watch-{section}",
            PathExistsProbe(path),
            Level.READINESS,
            interval=5.0,
            timeout=2.0,
            description=f"[{section}] path {path} exists (Bots logs nothing when it is missing)",
            warning=_watch_warning(path, table),
        )
        for section, path in watched
    )
    if not env.generation.config.dirmonitor_needs_jobqueue:
        return watches
    return (*watches, _xmlrpc_check(env, "jobqueue", interval=5.0))


def _webserver_jobqueue(env: botsenv.BotsEnv) -> tuple[CheckSpec, ...]:
    """GUI runs go to the job queue when it is enabled; only a queue that runs them matters."""
    if env.jobqueue_enabled and env.generation.config.jobqueue_runs_jobs:
        return (_xmlrpc_check(env, "jobqueue", interval=5.0),)
    return ()


_CHECKS: Mapping[str, Callable[[botsenv.BotsEnv], tuple[CheckSpec, ...]]] = {
    "webserver": _webserver_checks,
    "jobqueueserver": _jobqueue_checks,
    "dirmonitor": _dirmonitor_checks,
    "engine": lambda _env: (),
}


def _start_gates(name: str, env: botsenv.BotsEnv) -> tuple[StartGate, ...]:
    """Bots 4.0's dirmonitor exits 1 at once without a job queue to answer `isup`."""
    if name == "dirmonitor" and env.generation.config.dirmonitor_needs_jobqueue:
        return (JobqueueGate(env.jobqueue_port, name),)
    return ()


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
    rules = env.generation.services[name]
    checks = _CHECKS[name](env)
    config_dir = str(env.config_dir)
    extra = {
        "PATH": path_first(str(Path(program).parent), environ),
        "BOTS_CONFIG_DIR": config_dir,
    }
    if name in ENGINE_STARTERS:  # the services that start engines themselves
        extra.update(_engine_lock_shim(env, name, program, executable, extra["PATH"]))
    engine = name == "engine"
    watch = (EngineRunWatch(env.database, pushgateway),) if engine and env.database else ()
    return ServiceSpec(
        name=name,
        argv=(program, "-c" + config_dir, *args),
        env=child_env(environ, extra),
        stop=rules.stop,
        restart=rules.restart,
        checks=checks,
        success_codes=rules.success_codes,
        exit_meanings=rules.exit_meanings,
        lock_path=str(env.botssys / LOCK_FILE) if engine else None,
        start_gates=_start_gates(name, env),
        cwd=str(env.data_dir) if env.generation.run_in_data_folder else None,
        ports=ports,
        before_spawn=watch,
        collectors=_edi_collectors(env) if name == "webserver" else (),
        info=generations.info(env.bots_version, env.generation),
        warnings=(env.version_warning,) if env.version_warning else (),
    )


def _edi_collectors(env: botsenv.BotsEnv) -> tuple[CollectorSpec, ...]:
    """The webserver's EDI gauges from Bots' database (docs/edi-metrics.md)."""
    if env.database is None:
        return ()
    return (
        CollectorSpec(
            "edi",
            RecentEdi(env.database),
            interval=30.0,
            timeout=5.0,
            description=(
                f"EDI gauges from {env.database.describe()}: files of the last 24 h per route"
                " and state, the last run, the engine lock"
            ),
        ),
    )


def _engine_lock_shim(
    env: botsenv.BotsEnv, name: str, program: str, executable: str, path: str
) -> dict[str, str]:
    """Put the locking `bots-engine` shim first on PATH of a service that starts engines.

    The webserver starts GUI runs and Bots 4.0's job queue starts queued runs by the bare
    name `bots-engine`, found through PATH; the shim takes the shared engine lock first (see
    enginelock). Jobs inherit the job queue's environment, the variables included.
    """
    engine = Path(program).parent / PROGRAMS["engine"]
    if not (SHIMS / "bots-engine").is_file() or not engine.is_file():
        return {}
    return {
        "PATH": f"{SHIMS}{os.pathsep}{path}",
        enginelock.PROGRAM_VAR: str(engine),
        enginelock.LOCK_VAR: str(env.botssys / LOCK_FILE),
        enginelock.PYTHON_VAR: executable,
        enginelock.STARTER_VAR: ENGINE_STARTERS[name],
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

    A debugging shell must open even when the configuration is broken, so nothing here is
    refused. When the configuration is valid, `bots-engine` typed in the shell goes through
    the locking shim too (a "shell run"), like every other way an engine starts.
    """
    extra = {"BOTS_CONFIG_DIR": str(botsenv.normalise(bots_config))}
    try:
        program = find_program(PROGRAMS["engine"], environ, executable)
    except SettingError:
        return child_env(environ, extra)
    extra["PATH"] = path_first(str(Path(program).parent), environ)
    try:
        env = botsenv.load(bots_config, child_env(environ), python=interpreter(program, executable))
    except SettingError:
        return child_env(environ, extra)
    extra.update(_engine_lock_shim(env, "shell", program, executable, extra["PATH"]))
    return child_env(environ, extra)
