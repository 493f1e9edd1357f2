"""The web UI behind a TLS-terminating proxy (an ingress), with the settings.py init-db writes.

The browser talks https to the proxy; the proxy talks plain http to Bots and adds
`X-Forwarded-Proto: https`. The requests below are the ones such a proxy sends: the browser's
`Origin` and `Referer` (https, the public name), and either the public Host (the proxy keeps
it) or the pod's own address (the proxy rewrites it). Cookies are carried by hand, as the
browser would over https. Django 2.2 (Bots 3.3.1) checks the Referer of a secure request,
Django 4 and later (Bots 4.0) the Origin; the settings.py formats the trusted origins for each.
"""

from __future__ import annotations

import http.client
import re
import signal
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from tests.bots.kit import StartRuntime, can_log_in, have_bots, make_bots_dir, run_cli

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.bots,
    pytest.mark.slow,
    pytest.mark.skipif(not have_bots(), reason="Bots EDI is not installed"),
]
PUBLIC = "bots.example.com"
PROXY = {
    "BOTS_ALLOWED_HOSTS": PUBLIC,
    "BOTS_CSRF_TRUSTED_ORIGINS": f"https://{PUBLIC}",
    "BOTS_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}


@dataclass
class Browser:
    """One browser session seen through the proxy: its cookies and the headers it adds."""

    port: int
    host: str
    origin: str = f"https://{PUBLIC}"
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: str = "") -> tuple[int, str, str]:
        """One request through the proxy: (status, Location, body)."""
        headers = {
            "Host": self.host,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.7",
        }
        if method == "POST":
            headers |= {
                "Origin": self.origin,
                "Referer": f"{self.origin}/login/",
                "Content-Type": "application/x-www-form-urlencoded",
            }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            reply = connection.getresponse()
            text = reply.read().decode(errors="replace")
        finally:
            connection.close()
        for name, value in reply.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return reply.status, reply.getheader("Location") or "", text

    def log_in(self, user: str, password: str) -> tuple[int, str]:
        """GET the login form (its CSRF token and cookie), then POST it; (status, Location)."""
        status, _, page = self.request("GET", "/login/")
        assert status == 200, (status, page[:300])
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, page[:500]
        form = {"csrfmiddlewaretoken": match.group(1), "username": user, "password": password}
        status, location, _ = self.request("POST", "/login/", urllib.parse.urlencode(form))
        return status, location


def logged_in(reply: tuple[int, str]) -> bool:
    """Django's login view redirects away from the form on success (302 to the home page)."""
    status, location = reply
    return status == 302 and "login" not in location


def test_login_through_a_tls_proxy(tmp_path: Path, run_runtime: StartRuntime) -> None:
    """1. init-db makes the folder with an admin user from Secret files; the webserver runs
       with BOTS_ALLOWED_HOSTS, BOTS_CSRF_TRUSTED_ORIGINS (https://...) and
       BOTS_PROXY_SSL_HEADER set, as behind an ingress.
    2. /readyz turns 200: the runtime's own check of the UI on 127.0.0.1 is still allowed.
    3. A Host the settings do not allow gets 400.
    4. The admin logs in through the proxy, whether it keeps the public Host or rewrites it
       to the pod's address: 302 to the home page.
    5. A login form posted from another site's origin is refused (403), and the install
       database's bots/botsbots login no longer exists.
    """
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "username").write_text("admin", encoding="utf-8")
    (secret / "password").write_text("Adm1n-via-proxy", encoding="utf-8")
    files = {
        "BOTS_ADMIN_USER_FILE": str(secret / "username"),
        "BOTS_ADMIN_PASSWORD_FILE": str(secret / "password"),
    }
    bots_dir = make_bots_dir(tmp_path / "bots", files)
    assert can_log_in(bots_dir.config, [("admin", "Adm1n-via-proxy")]) == [True]
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots_dir.env(**PROXY))
    runtime.wait_status("/readyz", 200, timeout=30)
    port = bots_dir.web_port
    assert Browser(port, "evil.example.org").request("GET", "/login/")[0] == 400
    for host in (PUBLIC, f"127.0.0.1:{port}"):
        reply = Browser(port, host).log_in("admin", "Adm1n-via-proxy")
        assert logged_in(reply), (host, reply)
    other = Browser(port, f"127.0.0.1:{port}", origin="https://other.example.org")
    assert other.log_in("admin", "Adm1n-via-proxy")[0] == 403
    assert not logged_in(Browser(port, PUBLIC).log_in("bots", "botsbots"))
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0, runtime.output()


def test_without_trusted_origins_a_rewritten_host_is_refused(
    tmp_path: Path, run_runtime: StartRuntime
) -> None:
    """The same proxy that rewrites Host, with BOTS_CSRF_TRUSTED_ORIGINS left out: the login
    is refused with 403 on either Django, so the trusted origins are what makes it work."""
    bots_dir = make_bots_dir(tmp_path / "bots")
    env = {k: v for k, v in PROXY.items() if k != "BOTS_CSRF_TRUSTED_ORIGINS"}
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots_dir.env(**env))
    runtime.wait_status("/readyz", 200, timeout=30)
    port = bots_dir.web_port
    assert Browser(port, f"127.0.0.1:{port}").log_in("bots", "botsbots")[0] == 403
    assert logged_in(Browser(port, PUBLIC).log_in("bots", "botsbots"))
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0, runtime.output()


def test_own_settings_without_loopback_still_ready(
    tmp_path: Path, run_runtime: StartRuntime
) -> None:
    """A settings.py of the user's own whose ALLOWED_HOSTS leaves 127.0.0.1 out: Django
    answers 400 to a request for 127.0.0.1, so the runtime's web check sends the first allowed
    name as Host instead, and /readyz turns 200."""
    bots_dir = make_bots_dir(tmp_path / "bots")
    settings = bots_dir.config / "settings.py"
    settings.write_text(
        settings.read_text(encoding="utf-8") + f"\nALLOWED_HOSTS = ['.{PUBLIC}']\n",
        encoding="utf-8",
    )
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots_dir.env())
    runtime.wait_status("/readyz", 200, timeout=30)
    port = bots_dir.web_port
    assert Browser(port, f"127.0.0.1:{port}").request("GET", "/")[0] == 400
    assert "[+]web ok" in runtime.text("/readyz?verbose")
    plan = run_cli(["check", "webserver"], bots_dir.env())
    assert f"with Host: {PUBLIC} (settings.py's ALLOWED_HOSTS) answers 200" in plan.stdout
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0, runtime.output()
