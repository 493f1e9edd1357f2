"""The health and metrics socket, bound before the child is spawned.

Binding first means a port in use fails fast, with one line and no child started. Only the
standard library is imported here: the CLI calls `bind` before anything heavy is loaded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import tempfile

#: Connections the kernel queues before we accept them. A burst beyond the queue (a client
#: opening thousands at once) makes the kernel drop SYNs, and a probe caught in it waits for
#: TCP's 1 s retransmit. 4,096 absorbs the fault matrix's 7,000 back-to-back connections.
#: The kernel caps it at net.core.somaxconn (4,096 by default since Linux 5.4).
BACKLOG = 4096

_REASONS = {
    errno.EADDRINUSE: "is already in use",
    errno.EADDRNOTAVAIL: "is not an address of this machine",
    errno.EACCES: "needs privileges (ports below 1024 need CAP_NET_BIND_SERVICE)",
}


class BindError(Exception):
    """The listening socket could not be created; the message is one line for the operator."""


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen on `host`:`port` and return the non-blocking socket.

    TCP_NODELAY is set on the listening socket (Linux copies it to accepted sockets):
    without it a keep-alive probe can wait 40 ms on Nagle plus delayed ACKs. SO_REUSEADDR
    lets a restarted container rebind at once while old connections sit in TIME_WAIT; it
    does not let two listeners share the port. `::` accepts IPv4 too (dual stack).
    """
    literal = host.strip("[]")
    try:
        infos = socket.getaddrinfo(
            literal or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise BindError(f"--port {port}: cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    shown = _show(str(address[0]), port)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)  # noqa: FBT003 - the socket API takes a positional flag
    except OSError as exc:
        sock.close()
        reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        raise BindError(f"--port {port}: address {shown} {reason}") from None
    return sock


def write_port_file(path: str, sock: socket.socket) -> int:
    """Write the bound port number to `path` atomically (a reader never sees half a number)."""
    port = int(sock.getsockname()[1])
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".port.", dir=folder)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{port}\n")
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return port
