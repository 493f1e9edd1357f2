"""The Host the webserver's readiness check sends, from settings.py's ALLOWED_HOSTS."""

from __future__ import annotations

import pytest

from bots_runtime.bots import catalogue


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        (None, None),
        ((), None),
        (("*",), None),
        (("bots.example.com", "127.0.0.1"), None),
        (("bots.example.com",), "bots.example.com"),
        (("localhost", "bots.example.com"), "localhost"),
        ((".example.com",), "example.com"),
        ((" ", "bots.example.com"), "bots.example.com"),
    ],
)
def test_web_check_host_follows_allowed_hosts(
    allowed: tuple[str, ...] | None, host: str | None
) -> None:
    """The web check keeps Host 127.0.0.1 where Django allows it (or nothing is known) and
    otherwise sends the first name ALLOWED_HOSTS allows, as Django matches it."""
    assert catalogue.probe_host(allowed) == host
