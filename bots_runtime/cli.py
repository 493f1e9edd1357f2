"""The `bots-runtime` command: parse, dispatch, and turn every failure into one line and a code.

Start-up order is deliberate: settings (stdlib only) -> lock, bind and spawn (stdlib only) ->
only then import anyio, starlette, uvicorn and prometheus-client. The child starts in tens of
milliseconds instead of after the ~240 ms those imports cost.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from bots_runtime import __version__, overrides
from bots_runtime import config as config_mod
from bots_runtime.bots import SERVICES
from bots_runtime.config import HelpRequestedError, Invocation, SettingError
from bots_runtime.core import exit_codes
from bots_runtime.core import spec as spec_mod
from bots_runtime.core.childenv import child_env

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bots_runtime.core.spec import ServiceSpec


def _error(message: str) -> None:
    print(f"bots-runtime: error: {message}", file=sys.stderr, flush=True)


def build_spec(invocation: Invocation) -> ServiceSpec:
    """The spec for a `run` or Bots service invocation: defaults, then the user's settings."""
    cfg = invocation.config
    if invocation.command == "run":
        defaults = spec_mod.command(invocation.args, child_env(invocation.environ))
    else:
        from bots_runtime.bots import catalogue  # noqa: PLC0415 - only when a Bots service runs

        defaults = catalogue.service_spec(
            invocation.command,
            invocation.args,
            invocation.environ,
            bots_config=cfg.bots_config,
            health_port=cfg.options().port or None,
            pushgateway=cfg.pushgateway,
        )
    return overrides.apply(defaults, cfg)


def describe(spec: ServiceSpec) -> str:
    """A readable plan for `bots-runtime check`: what runs, how it stops, what is checked."""
    stop = spec.stop
    lines = [
        f"service: {spec.name}",
        *(f"{key}: {value}" for key, value in spec.info.items()),
        *(f"warning: {text}" for text in spec.warnings),
        "command: " + " ".join(spec.argv),
        (
            f"restart: {spec.restart.policy.value} (max {spec.restart.max_restarts} quick"
            f" failures, start period {spec.restart.start_period:g}s, min uptime"
            f" {spec.restart.min_uptime:g}s)"
        ),
        f"stop: drain {stop.drain_delay:g}s, then "
        + ", ".join(
            f"{s.signal.name} at {s.offset(stop.timeout):g}s"
            + (f" every {s.repeat:g}s" if s.repeat else "")
            + (f" to the {_TARGETS[s.target]}" if s.target is not None else "")
            for s in stop.steps
        )
        + f", SIGKILL at {stop.timeout:g}s"
        + ("" if _targets_set(stop) else _default_target(stop)),
        (
            f"leftover processes: {stop.leftover_signal.name} {stop.leftover_margin:g}s before"
            " the deadline, then SIGKILL"
        ),
        _describe_abort(stop),
        f"budget (drain + stop): {stop.budget:g}s",
    ]
    lines.extend(f"before the start: {gate.description}" for gate in spec.start_gates)
    if spec.cwd is not None:
        lines.append(f"working directory: {spec.cwd}")
    if spec.lock_path:
        lines.append(f"lock: {spec.lock_path} (held by another run: exit 75)")
    if spec.success_codes:
        lines.append("success codes: " + ",".join(str(c) for c in sorted(spec.success_codes)))
    for c in spec.checks:
        lines.append(
            f"check: {c.name} [{c.level.name}] every {c.interval:g}s, timeout {c.timeout:g}s"
            + (f": {c.description}" if c.description else "")
        )
        if c.warning:
            lines.append(f"warning: {c.name}: {c.warning}")
    lines.extend(
        f"collector: {c.name} every {c.interval:g}s, timeout {c.timeout:g}s"
        + (f": {c.description}" if c.description else "")
        for c in spec.collectors
    )
    lines.extend(f"port: {name} {port}" for name, port in sorted(spec.ports.items()))
    return "\n".join(lines)


_TARGETS = {
    spec_mod.StopTarget.CHILD: "child only",
    spec_mod.StopTarget.GROUP: "process group",
    spec_mod.StopTarget.REST: "rest of its group",
}


def _targets_set(stop: spec_mod.StopPlan) -> bool:
    return all(step.target is not None for step in stop.steps)


def _default_target(stop: spec_mod.StopPlan) -> str:
    return " to the process group" if stop.to_group else " to the child only"


def _describe_abort(stop: spec_mod.StopPlan) -> str:
    if stop.abort_signal is None:
        return "second stop signal: SIGKILL to everything at once"
    repeat = f" (again every {stop.abort_repeat:g}s)" if stop.abort_repeat else ""
    return (
        f"second stop signal: {stop.abort_signal.name} at once{repeat}, SIGKILL"
        f" {stop.abort_timeout:g}s later at most; third: SIGKILL at once"
    )


def _check(invocation: Invocation) -> int:
    args = list(invocation.args)
    services = [n for n in config_mod.SERVICE_NAMES if n != "init-db"]
    if not args or args[0] not in (*services, "run"):
        _error("check needs a service: " + ", ".join(services))
        return exit_codes.USAGE
    rest = args[1:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    target = dataclasses.replace(invocation, command=args[0], args=tuple(rest))
    if target.command == "run" and not target.args:
        _error("check run needs a command: bots-runtime check run CMD [ARGS...]")
        return exit_codes.USAGE
    print(describe(build_spec(target)))
    print(f"health server: {_health_address(invocation.config)}")
    return exit_codes.OK


def _health_address(cfg: config_mod.RuntimeConfig) -> str:
    port = cfg.options().port
    if port is None:
        return "disabled (--port 0)"
    return f"{cfg.host}:{port or 'any free port (--port auto)'}"


def _shell(invocation: Invocation) -> NoReturn:
    from bots_runtime.bots import catalogue  # noqa: PLC0415

    argv = catalogue.shell_argv(invocation.args, invocation.environ)
    env = catalogue.shell_env(invocation.environ, bots_config=invocation.config.bots_config)
    try:
        os.execvpe(argv[0], argv, env)  # noqa: S606 - the shell command's whole point
    except OSError as err:
        _error(f"{argv[0]}: {err.strerror}")
        raise SystemExit(exit_codes.exec_error_code(err)) from None


def _supervise(invocation: Invocation, *, fast_exit: bool) -> int:
    from bots_runtime.process.launch import LaunchError, prepare  # noqa: PLC0415

    spec = build_spec(invocation)
    try:
        launch = prepare(spec, invocation.config.options())
    except LaunchError as err:
        _error(str(err))
        return err.code
    import anyio  # noqa: PLC0415 - imported once the child is already running

    from bots_runtime.supervision import runtime  # noqa: PLC0415

    serve = functools.partial(runtime.serve, exit_process=_exit_now if fast_exit else None)
    return anyio.run(serve, launch, backend="asyncio")


def _exit_now(code: int) -> NoReturn:
    """The end, from inside the runtime's signal receiver.

    The child and everything it left are gone and our output is written. Exiting here
    leaves no moment in which a signal would get its default action (and the process 143
    instead of the child's code), and it skips the interpreter's teardown of the HTTP
    stack, which would add tens of milliseconds.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _dispatch(invocation: Invocation, *, fast_exit: bool) -> int:
    command = invocation.command
    cfg = invocation.config
    if command == "probe":
        from bots_runtime.web import client  # noqa: PLC0415

        port = client.port_from_file(cfg.port_file) if cfg.port_file else cfg.port
        return client.main(invocation.args[0], cfg.host, port, cfg.timeout)
    if command == "check":
        return _check(invocation)
    if command == "shell":
        _shell(invocation)
    if command == "init-db":
        from bots_runtime.bots import initdb  # noqa: PLC0415

        return initdb.main(cfg.bots_config, invocation.environ)
    if command in SERVICES and cfg.init_db == "auto":
        code = _first_run(invocation)
        if code != exit_codes.OK:
            return code
    return _supervise(invocation, fast_exit=fast_exit)


def _first_run(invocation: Invocation) -> int:
    """`--init-db auto`: a Bots service on a folder without a configuration runs init-db first.

    Under init-db's lock, so several containers starting together take turns; a failure is
    init-db's own line and exit code.
    """
    from bots_runtime.bots import initdb  # noqa: PLC0415 - only when a Bots service runs

    cfg = invocation.config
    reason = initdb.first_run(cfg.bots_config)
    if reason is None:
        return exit_codes.OK
    print(
        f"init-db: first run of {invocation.command}: {reason}; running init-db first"
        " (--init-db off / BOTS_RUNTIME_INIT_DB=off turns this off)",
        flush=True,
    )
    return initdb.main(cfg.bots_config, invocation.environ, bootstrap=True)


def main(argv: Sequence[str] | None = None, *, fast_exit: bool = True) -> int:
    """Entry point of the console script; returns (or exits with) the documented exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        invocation = config_mod.parse(args, os.environ)
        return _dispatch(invocation, fast_exit=fast_exit)
    except HelpRequestedError as request:
        if str(request) == "version":
            print(f"bots-runtime {__version__}")
        else:
            print(config_mod.help_text(__version__))
        return exit_codes.OK
    except SettingError as err:
        _error(str(err))
        return err.code
    except KeyboardInterrupt:
        return 128 + 2
    except Exception as err:  # noqa: BLE001 - the promise is one line, never a traceback
        _error(f"internal error: {type(err).__name__}: {err}")
        if os.environ.get("BOTS_RUNTIME_DEBUG"):
            import traceback  # noqa: PLC0415

            traceback.print_exc()
        return exit_codes.INTERNAL
