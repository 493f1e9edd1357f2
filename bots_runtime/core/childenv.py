"""The child's environment, derived from the runtime's own in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_PREFIX = "BOTS_RUNTIME_"


def child_env(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Ours, minus the runtime's own settings and multiprocess switches, plus `extra`.

    `PYTHONUNBUFFERED=1` is added unless the caller chose a value, so a Python child's lines
    reach the relay as they are written instead of in 8 KiB blocks. `PROMETHEUS_MULTIPROC_DIR`
    is dropped: inherited, it would silently change a Python child's metrics library.
    """
    env = {k: v for k, v in environ.items() if not k.startswith(ENV_PREFIX)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env
