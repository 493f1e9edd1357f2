"""`bots-runtime probe readyz`: ask the running runtime's endpoint, exit 0 or 1.

This is what a Docker HEALTHCHECK or an exec probe runs, so it imports only `http.client`
and starts in a few milliseconds instead of loading the HTTP stack (about 240 ms).
"""

from __future__ import annotations

import http.client

from bots_runtime.core.options import ENDPOINTS

TARGETS = tuple(ENDPOINTS)
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def _first_failure(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("[-]"):
            return line
    return body.strip().splitlines()[0] if body.strip() else ""


def port_from_file(path: str) -> int:
    """The port a runtime wrote with `--port-file` (0 when the file is missing or bad)."""
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 0


def main(target: str, host: str, port: int, timeout: float) -> int:
    """Query `/target` on the local server; 0 when it answers 200, else 1 and one line.

    `target` is `healthz`, `livez` or `readyz`, optionally with `/NAME` for one check. A
    wildcard listen address (`0.0.0.0`, `::`) is reached through loopback.
    """
    if target.split("/", 1)[0] not in TARGETS:
        print(f"probe: unknown target {target!r}, expected one of {', '.join(TARGETS)}")
        return 1
    if port <= 0:
        print(f"{target}: no port to probe (give --port, or --port-file of a running runtime)")
        return 1
    address = _WILDCARDS.get(host, host).strip("[]")
    shown = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", f"/{target}", headers={"User-Agent": "bots-runtime-probe"})
        response = connection.getresponse()
        body = response.read(8192).decode("utf-8", "replace")
    except TimeoutError:
        print(f"{target}: no answer from {shown} within {timeout:g}s")
        return 1
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        print(f"{target}: cannot reach {shown}: {reason}")
        return 1
    finally:
        connection.close()
    if response.status == 200:
        return 0
    detail = _first_failure(body)
    print(f"{target}: {response.status} {response.reason}" + (f": {detail}" if detail else ""))
    return 1
