"""Settings: one frozen, validated object built from CLI flags and `BOTS_RUNTIME_*` variables.

Each setting is defined once in `SETTINGS` (flag, variable, parser, default, help); the
command-line parser, the environment reader and `--help` are all built from that table. The
flag wins over the variable. Nothing else in the package reads `os.environ`: `parse` takes the
environment as an argument, which is also how the tests inject it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from bots_runtime.bots import SERVICES
from bots_runtime.core import exit_codes
from bots_runtime.core.childenv import ENV_PREFIX
from bots_runtime.core.errors import SettingError
from bots_runtime.core.options import (
    ENDPOINTS,
    LOG_LEVELS,
    ChildLogs,
    FullOutput,
    LogFormat,
    RuntimeOptions,
)
from bots_runtime.core.spec import RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["SettingError"]

SERVICE_NAMES = (*SERVICES, "init-db")
COMMANDS = ("run", "probe", "check", "shell", *SERVICE_NAMES)
DEFAULT_PORT = 8099
AUTO_PORT = "auto"
#: `port` when the user asked for `auto`: any free port, chosen by the kernel at bind time.
ANY_FREE_PORT = -1
DEFAULT_BOTS_CONFIG = "/var/lib/bots/config"
#: `--init-db`: `auto` runs init-db before a Bots service on a folder without a configuration.
INIT_DB_CHOICES = ("auto", "off")
RESTART_CHOICES = tuple(policy.value for policy in RestartPolicy)
PROBE_TARGETS = tuple(ENDPOINTS)


# --- value parsers: each returns the value or raises ValueError with what is allowed ----------


def parse_signal(text: str) -> signal.Signals:
    """`TERM`, `SIGTERM` or `15` (case-insensitive); SIGKILL and SIGSTOP cannot be caught."""
    raw = text.strip().upper()
    try:
        sig = (
            signal.Signals(int(raw))
            if raw.isdigit()
            else signal.Signals[raw if raw.startswith("SIG") else "SIG" + raw]
        )
    except (KeyError, ValueError):
        msg = "expected a signal name or number such as TERM, SIGINT or 15"
        raise ValueError(msg) from None
    return sig


def parse_abort_signal(text: str) -> int:
    """A signal as for `--stop-signal`, or `none` (0): the second stop signal then kills."""
    if text.strip().lower() == "none":
        return 0
    try:
        return int(parse_signal(text))
    except ValueError:
        msg = "expected a signal name or number such as INT, or none"
        raise ValueError(msg) from None


def _seconds(minimum: float = 0.0, *, strict: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        ok = value > minimum if strict else value >= minimum
        if not ok or value != value or value == float("inf"):  # noqa: PLR0124 - NaN check
            sign = ">" if strict else ">="
            msg = f"expected a number of seconds {sign} {minimum:g}"
            raise ValueError(msg)
        return value

    return parse


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            msg = f"expected a whole number from {low} to {high}"
            raise ValueError(msg)
        return value

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            msg = "expected one of " + ", ".join(choices)
            raise ValueError(msg)
        return value

    return parse


def parse_bool(text: str) -> bool:
    """Strict booleans: a typo must not silently mean false."""
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    msg = "expected true or false"
    raise ValueError(msg)


def parse_rewrite(text: str) -> tuple[int, int]:
    """`FROM:TO` with signal names or numbers; TO may be 0 to drop the signal."""
    if text.count(":") != 1:
        msg = "expected FROM:TO, e.g. TERM:INT, or FROM:0 to drop a signal"
        raise ValueError(msg)
    left, right = text.split(":")
    source = parse_signal(left)
    target = 0 if right.strip() == "0" else int(parse_signal(right))
    return int(source), target


def parse_codes(text: str) -> frozenset[int]:
    """A comma-separated list of exit codes 0-255."""
    codes: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        codes.add(_integer(0, 255)(part.strip()))
    if not codes:
        msg = "expected exit codes 0-255 separated by commas, e.g. 143,130"
        raise ValueError(msg)
    return frozenset(codes)


def parse_port(text: str) -> int:
    """A port number, 0 for no health server, or `auto` for any free port."""
    if text.strip().lower() == AUTO_PORT:
        return ANY_FREE_PORT
    try:
        return _integer(0, 65535)(text)
    except ValueError:
        msg = f"expected a port number from 0 to 65535 (0 disables the server) or {AUTO_PORT}"
        raise ValueError(msg) from None


def _text(text: str) -> str:
    if not text.strip():
        msg = "expected a non-empty value"
        raise ValueError(msg)
    return text.strip()


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its field on `RuntimeConfig`, flag, parser and help."""

    name: str
    parser: Callable[[str], Any]
    help: str
    metavar: str = "VALUE"
    repeatable: bool = False
    env: str | None = None
    shown_default: str = ""

    @property
    def flag(self) -> str:
        """The long option, e.g. `--stop-timeout`."""
        return "--" + self.name.replace("_", "-")

    @property
    def env_name(self) -> str:
        """The environment variable, e.g. `BOTS_RUNTIME_STOP_TIMEOUT`."""
        return self.env or ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "stop_signal",
        parse_signal,
        "signal that starts the child's graceful stop",
        "SIG",
        shown_default="TERM; Bots services: INT",
    ),
    Setting(
        "stop_timeout",
        _seconds(),
        "seconds from the stop signal to SIGKILL of the group",
        "SECONDS",
        shown_default="20; engine 25",
    ),
    Setting(
        "stop_repeat",
        _seconds(strict=True),
        "resend the stop signal every SECONDS until the deadline",
        "SECONDS",
        shown_default="off",
    ),
    Setting(
        "abort_signal",
        parse_abort_signal,
        "signal a second stop signal sends at once (SIGKILL 5 s later, or on a third); "
        "none: the second stop signal kills",
        "SIG",
        shown_default="none; Bots services: INT",
    ),
    Setting(
        "drain_delay",
        _seconds(),
        "seconds /readyz fails before the child is signalled",
        "SECONDS",
        shown_default="0; webserver 5",
    ),
    Setting(
        "signal_rewrite",
        parse_rewrite,
        "rewrite signal FROM to TO before forwarding or stopping (repeatable; "
        "env: comma-separated)",
        "FROM:TO",
        repeatable=True,
        shown_default="none",
    ),
    Setting(
        "restart",
        _choice(RESTART_CHOICES),
        "restart policy: " + ", ".join(RESTART_CHOICES),
        "POLICY",
        shown_default="never; servers: on-failure",
    ),
    Setting(
        "max_restarts",
        _integer(0, 1_000_000),
        "quick failures in a row before giving up",
        "N",
        shown_default="5",
    ),
    Setting(
        "start_period",
        _seconds(),
        "seconds a child must live to count as started",
        "SECONDS",
        shown_default="1",
    ),
    Setting(
        "min_uptime",
        _seconds(),
        "seconds a child must live for its exit not to count as a quick failure",
        "SECONDS",
        shown_default="10",
    ),
    Setting(
        "success_codes",
        parse_codes,
        "exit codes reported as 0, e.g. 143,130",
        "CODES",
        shown_default="none",
    ),
    Setting(
        "log_format",
        _choice(tuple(f.value for f in LogFormat)),
        "runtime log format: "
        + ", ".join(f.value for f in LogFormat)
        + " (auto: console on a TTY, else json)",
        "FORMAT",
        shown_default="auto",
    ),
    Setting(
        "log_level",
        _choice(LOG_LEVELS),
        "runtime log level: " + ", ".join(LOG_LEVELS),
        "LEVEL",
        shown_default="info",
    ),
    Setting(
        "child_logs",
        _choice(tuple(c.value for c in ChildLogs)),
        "child output: "
        + " or ".join(m.value for m in ChildLogs)
        + " (wrap: a JSON event per line; raw: bytes unchanged)",
        "MODE",
        shown_default="wrap",
    ),
    Setting(
        "child_logs_full",
        _choice(tuple(f.value for f in FullOutput)),
        "child lines while our stdout is not read: block (the child waits, nothing is lost; "
        "during a stop at most 1 s) or drop (counted)",
        "POLICY",
        shown_default="block",
    ),
    Setting(
        "host", _text, "address of the health and metrics server", "ADDR", shown_default="0.0.0.0"
    ),
    Setting(
        "port",
        parse_port,
        "port of the health and metrics server; 0 disables it, auto takes any free port",
        "PORT",
        shown_default=str(DEFAULT_PORT),
    ),
    Setting(
        "port_file",
        _text,
        "write the health server's port number to FILE once it is bound",
        "FILE",
        shown_default="none",
    ),
    Setting(
        "subreaper",
        parse_bool,
        "become a child subreaper when not PID 1",
        "BOOL",
        shown_default="true",
    ),
    Setting(
        "single_child",
        parse_bool,
        "forward signals to the child only, not its process group",
        "BOOL",
        shown_default="false",
    ),
    Setting(
        "bots_config",
        _text,
        "Bots configuration directory (holds bots.ini, settings.py)",
        "DIR",
        env="BOTS_CONFIG_DIR",
        shown_default=DEFAULT_BOTS_CONFIG,
    ),
    Setting(
        "init_db",
        _choice(INIT_DB_CHOICES),
        "first run: a Bots service whose config directory has no bots.ini and no settings.py"
        " runs init-db first (auto), or stops with exit 78 (off)",
        "MODE",
        shown_default="auto",
    ),
    Setting(
        "pushgateway", _text, "Pushgateway URL for engine run metrics", "URL", shown_default="off"
    ),
    Setting(
        "timeout",
        _seconds(strict=True),
        "probe: seconds to wait for an answer",
        "SECONDS",
        shown_default="1",
    ),
)
SETTINGS_BY_FLAG = {s.flag: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Every setting, validated. `None` means "not given": the service's default applies."""

    stop_signal: signal.Signals | None = None
    stop_timeout: float | None = None
    stop_repeat: float | None = None
    abort_signal: int | None = None
    drain_delay: float | None = None
    signal_rewrite: Mapping[int, int] = field(default_factory=dict)
    restart: str | None = None
    max_restarts: int | None = None
    start_period: float | None = None
    min_uptime: float | None = None
    success_codes: frozenset[int] = frozenset()
    log_format: LogFormat = LogFormat.AUTO
    log_level: str = "info"
    child_logs: ChildLogs = ChildLogs.WRAP
    child_logs_full: FullOutput = FullOutput.BLOCK
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    port_file: str | None = None
    subreaper: bool = True
    single_child: bool = False
    bots_config: str = DEFAULT_BOTS_CONFIG
    init_db: str = "auto"
    pushgateway: str | None = None
    timeout: float = 1.0

    def options(self) -> RuntimeOptions:
        """The runtime's own settings; `--port 0` (no server) becomes `None`, `auto` 0."""
        port: int | None = self.port
        if self.port == 0:
            port = None
        elif self.port == ANY_FREE_PORT:
            port = 0
        return RuntimeOptions(
            host=self.host,
            port=port,
            port_file=self.port_file,
            subreaper=self.subreaper,
            log_format=self.log_format,
            log_level=self.log_level,
            child_logs=self.child_logs,
            child_logs_full=self.child_logs_full,
        )


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the user asked for: a command word, its settings and the child's extra args."""

    command: str
    config: RuntimeConfig
    args: tuple[str, ...] = ()
    environ: Mapping[str, str] = field(default_factory=dict)


class HelpRequestedError(Exception):
    """`--help` or `--version`: the CLI prints and exits 0."""


def _convert(setting: Setting, raw: str, source: str) -> Any:
    try:
        return setting.parser(raw)
    except ValueError as err:
        msg = f"{source}: {raw!r} is not allowed; {err}"
        raise SettingError(msg) from None


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env_name)
        if raw is None or raw == "":
            continue
        source = f"{setting.env_name} (env)"
        if setting.repeatable:
            items = [p for p in raw.split(",") if p.strip()]
            values[setting.name] = [_convert(setting, item, source) for item in items]
        else:
            values[setting.name] = _convert(setting, raw, source)
    return values


def _split_option(token: str) -> tuple[str, str | None]:
    if "=" in token:
        name, value = token.split("=", 1)
        return name, value
    return token, None


def _consume_options(tokens: list[str], flags: dict[str, Any]) -> list[str]:
    """Read options from the front of `tokens` until a positional or `--`; return the rest."""
    while tokens:
        token = tokens[0]
        if token == "--" or not token.startswith("-") or token == "-":  # noqa: S105
            return tokens
        tokens.pop(0)
        if token in {"-h", "--help"}:
            raise HelpRequestedError("help")
        if token in {"-V", "--version"}:
            raise HelpRequestedError("version")
        name, value = _split_option(token)
        setting = SETTINGS_BY_FLAG.get(name)
        if setting is None:
            msg = f"unknown option {name}; see bots-runtime --help"
            raise SettingError(msg, exit_codes.USAGE)
        if value is None:
            if not tokens:
                msg = f"{name} needs a value ({setting.metavar})"
                raise SettingError(msg, exit_codes.USAGE)
            value = tokens.pop(0)
        converted = _convert(setting, value, name)
        if setting.repeatable:
            flags.setdefault(setting.name, []).append(converted)
        else:
            flags[setting.name] = converted
    return tokens


def _build(values: dict[str, Any]) -> RuntimeConfig:
    kwargs: dict[str, Any] = dict(values)
    if "signal_rewrite" in kwargs:
        kwargs["signal_rewrite"] = dict(kwargs["signal_rewrite"])
    if "log_format" in kwargs:
        kwargs["log_format"] = LogFormat(kwargs["log_format"])
    if "child_logs" in kwargs:
        kwargs["child_logs"] = ChildLogs(kwargs["child_logs"])
    if "child_logs_full" in kwargs:
        kwargs["child_logs_full"] = FullOutput(kwargs["child_logs_full"])
    known = {f.name for f in fields(RuntimeConfig)}
    return RuntimeConfig(**{k: v for k, v in kwargs.items() if k in known})


def parse(argv: list[str] | tuple[str, ...], environ: Mapping[str, str]) -> Invocation:
    """Turn a command line and an environment into an `Invocation`.

    Grammar: `bots-runtime [OPTIONS] COMMAND [OPTIONS] [-- ARGS...]` for the known commands;
    any other first word is a plain command run under supervision with its arguments verbatim
    (`bots-runtime python app.py` is `bots-runtime run -- python app.py`).
    """
    tokens = list(argv)
    flags: dict[str, Any] = {}
    tokens = _consume_options(tokens, flags)
    if not tokens:
        msg = "no command given; try bots-runtime --help"
        raise SettingError(msg, exit_codes.USAGE)
    command = tokens.pop(0)
    if command == "--":
        command = "run"
    elif command in COMMANDS:
        tokens = _consume_options(tokens, flags)
        if command == "probe" and tokens and tokens[0] in PROBE_TARGETS:
            target = tokens.pop(0)
            tokens = [target, *_consume_options(tokens, flags)]
        if tokens and tokens[0] == "--":
            tokens.pop(0)
        elif tokens and command not in {"run", "probe", "check"}:
            msg = f"unexpected argument {tokens[0]!r} after {command}; put child arguments after --"
            raise SettingError(msg, exit_codes.USAGE)
    else:
        tokens.insert(0, command)
        command = "run"
    if command == "run" and not tokens:
        msg = "run needs a command to supervise: bots-runtime run -- CMD [ARGS...]"
        raise SettingError(msg, exit_codes.USAGE)
    if command == "probe" and (len(tokens) != 1 or tokens[0] not in PROBE_TARGETS):
        msg = "probe needs one target: " + ", ".join(PROBE_TARGETS)
        raise SettingError(msg, exit_codes.USAGE)
    values = _from_environ(environ)
    values.update(flags)
    config = _build(values)
    return Invocation(command=command, config=config, args=tuple(tokens), environ=dict(environ))


def help_text(version: str) -> str:
    """The `--help` page, generated from `SETTINGS`."""
    lines = [
        f"bots-runtime {version}: run one Bots EDI service as a supervised child, with",
        "/healthz, /readyz and /metrics, correct signals, reaping and exit codes.",
        "",
        "usage:",
        "  bots-runtime [OPTIONS] SERVICE [OPTIONS] [-- ARGS]   a Bots service",
        "  bots-runtime [OPTIONS] run [OPTIONS] -- CMD [ARGS]   any command",
        "  bots-runtime [OPTIONS] CMD [ARGS]                    same as run -- CMD ARGS",
        "  bots-runtime probe {"
        + ",".join(PROBE_TARGETS)
        + "} [--port P | --port-file F] [--timeout S]",
        "  bots-runtime check SERVICE                           validate, print the plan",
        "  bots-runtime shell [-- ARGS]                         a shell in the same environment",
        "",
        "services: " + ", ".join(SERVICE_NAMES),
        "",
        "options (flag, environment variable, default):",
    ]
    for s in SETTINGS:
        lines.append(f"  {s.flag} {s.metavar}")
        lines.append(f"      {s.help}")
        lines.append(f"      env {s.env_name}; default {s.shown_default}")
    lines += [
        "  -h, --help        show this help",
        "  -V, --version     print the version",
        "",
        "exit codes: the child's code, or 128+N if killed by signal N; the runtime's own:",
        *(f"  {code} {meaning}" for code, meaning in exit_codes.RUNTIME_CODES.items()),
    ]
    return "\n".join(lines)
