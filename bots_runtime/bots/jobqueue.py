"""Reaching Bots' job queue: what the dirmonitor (and 4.0's GUI runs) depend on.

bots-jobqueueserver listens on `localhost` only and its clients dial `localhost`, so the queue
is reachable only from its own network namespace: in Kubernetes, the same pod. Bots 4.0's
dirmonitor asks it `isup` before anything else and exits 1 when nothing answers, so the runtime
waits for the port briefly (containers of one pod start together) and then refuses with one
line instead of restarting the dirmonitor into a crash loop.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

#: How long a service that needs the queue waits for it before it is refused.
WAIT = 10.0
#: Between two connection attempts.
RETRY = 0.2


@dataclass(frozen=True, slots=True)
class JobqueueGate:
    """Wait until something accepts connections on 127.0.0.1:`port` (Bots' job queue)."""

    port: int
    service: str
    wait_for: float = WAIT

    @property
    def description(self) -> str:
        """What `check` prints."""
        return (
            f"the job queue on 127.0.0.1:{self.port} accepts connections"
            f" (waited for up to {self.wait_for:g}s; else exit 78)"
        )

    def wait(self) -> str | None:
        """None once the port accepts; the reason after `wait_for` seconds of refusals."""
        deadline = time.monotonic() + self.wait_for
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=RETRY):
                    return None
            except OSError as err:
                error = err.strerror or type(err).__name__
            if time.monotonic() >= deadline:
                return (
                    f"bots-{self.service} needs the job queue, but nothing answers on"
                    f" 127.0.0.1:{self.port} ([jobqueue] port) within {self.wait_for:g}s"
                    f" ({error}); Bots' job queue only listens on localhost, so"
                    " bots-jobqueueserver must run in the same pod"
                )
            time.sleep(RETRY)
