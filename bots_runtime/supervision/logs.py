"""The runtime's own structured events: the only module that touches structlog's global state.

JSON lines when stdout is not a terminal (what log collectors want), the console renderer on a
terminal. Events are written through the shared `Output`, so they never cut a relayed child
line in two. stdlib `logging` is not involved (uvicorn is run with `log_config=None`); records
that third-party code still sends to stdlib logging at WARNING or above are rendered the same way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import structlog

from bots_runtime.core.options import LogFormat

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger

    from bots_runtime.process.output import Output

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


def use_console(fmt: LogFormat, isatty: bool) -> bool:
    """Whether to render for humans: `auto` means "on a terminal"."""
    return fmt is LogFormat.CONSOLE or (fmt is LogFormat.AUTO and isatty)


def _add_logger_name(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event.setdefault("logger", "runtime")
    return event


def configure(sink: Output, fmt: LogFormat, level: str, isatty: bool) -> None:
    """Set up structlog for this process (call once, before the first event)."""
    console = use_console(fmt, isatty)
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=isatty)
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=sink),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    handler = _StdlibBridge()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


class _StdlibBridge(logging.Handler):
    """Sends stray stdlib records (uvicorn errors, library warnings) through structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        log = structlog.get_logger(record.name)
        method = getattr(log, record.levelname.lower(), log.warning)
        method(record.getMessage(), logger=record.name)


def get_logger(**bound: Any) -> structlog.typing.FilteringBoundLogger:
    """The runtime's logger, with `bound` keys on every event."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger().bind(**bound)
    return logger
