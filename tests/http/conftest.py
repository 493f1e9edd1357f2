"""Fixtures for the HTTP side: anyio on asyncio only (uvicorn needs asyncio)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
