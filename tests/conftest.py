"""Shared fixtures; the helpers themselves live in `tests.support`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import CHILD, PYTHON, RuntimeProcess


@pytest.fixture(name="runtime")
def _runtime() -> Iterator[Callable[..., RuntimeProcess]]:
    """Start `bots-runtime ARGS`; whatever is still running at the end is killed."""
    started: list[RuntimeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, **popen: Any) -> RuntimeProcess:
        rt = RuntimeProcess(list(args), env=env, **popen)
        started.append(rt)
        return rt

    yield start
    for rt in started:
        rt.kill()


@pytest.fixture(name="child_cmd")
def _child_cmd() -> Callable[..., list[str]]:
    def build(*flags: str) -> list[str]:
        return [PYTHON, str(CHILD), *flags]

    return build
