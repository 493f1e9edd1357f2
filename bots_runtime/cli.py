"""The `bots-runtime` command: parse, dispatch, and turn every failure into one line and a code.

Start-up order is deliberate: settings (stdlib only) -> lock, bind and spawn (stdlib only) ->
only then import anyio, starlette, uvicorn and prometheus-client. The child starts in tens of
milliseconds instead of after the ~240 ms those imports cost.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from bots_runtime import __version__, exit_codes
from bots_runtime import config as config_mod
from bots_runtime.config import HelpRequestedError, Invocation, SettingError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bots_runtime.spec import ServiceSpec


def _error(message: str) -> None:
    print(f"bots-runtime: error: {message}", file=sys.stderr, flush=True)


def build_spec(invocation: Invocation) -> ServiceSpec:
    """The spec for a `run` or Bots service invocation (raises `SettingError`)."""
    if invocation.command == "run":
        from bots_runtime import plan  # noqa: PLC0415

        return plan.generic_spec(invocation)
    from bots_runtime import services  # noqa: PLC0415 - Bots catalogue only when asked for

    return services.bots_spec(invocation.command, invocation)


def _check(invocation: Invocation) -> int:
    from bots_runtime import plan  # noqa: PLC0415

    args = list(invocation.args)
    if not args or args[0] not in (*config_mod.SERVICE_NAMES, "run") or args[0] == "init-db":
        _error(
            "check needs a service: "
            + ", ".join(n for n in config_mod.SERVICE_NAMES if n != "init-db")
        )
        return exit_codes.USAGE
    rest = args[1:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    target = dataclasses.replace(invocation, command=args[0], args=tuple(rest))
    if target.command == "run" and not target.args:
        _error("check run needs a command: bots-runtime check run CMD [ARGS...]")
        return exit_codes.USAGE
    spec = build_spec(target)
    print(plan.describe(spec))
    print(f"health server: {_health_address(invocation)}")
    return exit_codes.OK


def _health_address(invocation: Invocation) -> str:
    cfg = invocation.config
    return "disabled (--port 0)" if cfg.port == 0 else f"{cfg.host}:{cfg.port}"


def _shell(invocation: Invocation) -> NoReturn:
    from bots_runtime import services  # noqa: PLC0415

    argv = services.shell_argv(invocation)
    env = services.shell_env(invocation)
    try:
        os.execvpe(argv[0], argv, env)  # noqa: S606 - the shell command's whole point
    except OSError as err:
        _error(f"{argv[0]}: {err.strerror}")
        code = (
            exit_codes.NOT_FOUND
            if isinstance(err, FileNotFoundError)
            else exit_codes.NOT_EXECUTABLE
        )
        raise SystemExit(code) from None


def _supervise(invocation: Invocation, *, fast_exit: bool) -> int:
    from bots_runtime.launch import LaunchError, prepare  # noqa: PLC0415

    spec = build_spec(invocation)
    try:
        launch = prepare(spec, invocation.config)
    except LaunchError as err:
        _error(str(err))
        return err.code
    import anyio  # noqa: PLC0415 - imported once the child is already running

    from bots_runtime import runtime  # noqa: PLC0415

    code = anyio.run(runtime.serve, launch, backend="asyncio")
    if fast_exit:
        # The child and everything it left are gone and our output is written: skip the
        # interpreter's teardown of the HTTP stack, which would add tens of milliseconds.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _dispatch(invocation: Invocation, *, fast_exit: bool) -> int:
    command = invocation.command
    if command == "probe":
        from bots_runtime import probe  # noqa: PLC0415

        cfg = invocation.config
        return probe.main(invocation.args[0], cfg.host, cfg.port, cfg.timeout)
    if command == "check":
        return _check(invocation)
    if command == "shell":
        _shell(invocation)
    if command == "init-db":
        from bots_runtime import initdb  # noqa: PLC0415

        return initdb.main(invocation)
    return _supervise(invocation, fast_exit=fast_exit)


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
