"""Restart back-off: exponential growth, a cap and jitter, as a pure function.

Jitter keeps replicas that crashed together (a database restart) from coming back in step.
The random source is passed in so tests can pin it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.core.spec import RestartSpec


def delay(attempt: int, spec: RestartSpec, uniform: Callable[[float, float], float]) -> float:
    """Seconds to wait before restart number `attempt` (1 for the first restart).

    The base grows as `initial * factor**(attempt-1)` up to `backoff_max`; jitter then
    scales it by a factor in `[1 - jitter, 1 + jitter]`, and the cap holds after jitter too.
    """
    if attempt < 1:
        msg = f"attempt must be >= 1, got {attempt}"
        raise ValueError(msg)
    exponent = min(attempt - 1, 64)
    base = min(spec.backoff_initial * spec.backoff_factor**exponent, spec.backoff_max)
    scaled = base * uniform(1.0 - spec.jitter, 1.0 + spec.jitter)
    return max(0.0, min(scaled, spec.backoff_max))
