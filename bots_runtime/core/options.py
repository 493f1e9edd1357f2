"""How the runtime itself behaves, whatever service it runs: its HTTP server, logs and reaping.

The CLI builds `RuntimeOptions` from the user's settings; the library API takes one directly.
The service's own behaviour (stop plan, restarts, checks) is in `ServiceSpec` instead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LogFormat(enum.Enum):
    """How the runtime renders its own events."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class ChildLogs(enum.Enum):
    """`wrap`: each child line becomes a JSON event; `raw`: bytes pass through unchanged."""

    WRAP = "wrap"
    RAW = "raw"


class FullOutput(enum.Enum):
    """What a child line meets when our stdout is not read: `block` it, or `drop` it counted.

    `block` keeps every line and slows the child down by its own full pipe; `drop` never
    slows the child. Either way the runtime's own work (probes, signals, the stop) goes on.
    """

    BLOCK = "block"
    DROP = "drop"


LOG_LEVELS = ("debug", "info", "warning", "error")
#: The health server's verdict endpoints and the verdict each gives; `/healthz` is the older
#: name of `/livez`. Here, not in `health`, so the CLI and the probe client get them cheaply.
ENDPOINTS = {"healthz": "livez", "livez": "livez", "readyz": "readyz"}


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """The runtime's own settings.

    `port` follows the socket convention: `None` runs no health server, `0` lets the kernel
    pick a free port, which is logged ("health server listening") and written to
    `port_file` when one is named. The CLI's `--port 0` means "no server", as the kubelet's
    `--healthz-port 0` does, and `--port auto` asks for any free port.
    """

    host: str = "0.0.0.0"
    port: int | None = None
    port_file: str | None = None
    subreaper: bool = True
    log_format: LogFormat = LogFormat.AUTO
    log_level: str = "info"
    child_logs: ChildLogs = ChildLogs.WRAP
    child_logs_full: FullOutput = FullOutput.BLOCK
