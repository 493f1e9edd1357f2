"""The starlette app in process (httpx over the ASGI transport): every endpoint and option."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import httpx
import pytest

from bots_runtime.core.health import CheckResult
from bots_runtime.core.spec import CheckFailedError, CheckSpec, Level
from bots_runtime.core.state import Board, Phase
from bots_runtime.web.app import create_app
from bots_runtime.web.checks import CheckRunner
from bots_runtime.web.metrics import build_registry
from tests.http.kit import board_in, publish

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.anyio


class _Flag:
    """A probe whose outcome the test sets."""

    def __init__(self) -> None:
        self.healthy = True

    async def __call__(self) -> str:
        if not self.healthy:
            raise CheckFailedError("database refused the connection")
        return "fine"


DB = _Flag()
SPECS = (
    CheckSpec("db", DB, level=Level.READINESS),
    CheckSpec("heartbeat", _Flag(), level=Level.LIVENESS),
)


class _App:
    def __init__(self, board: Board, runner: CheckRunner, client: httpx.AsyncClient) -> None:
        self.board = board
        self.runner = runner
        self.client = client

    async def check_all(self) -> None:
        for spec in self.runner.specs:
            await self.runner.run_once(spec)


@pytest.fixture(name="app")
async def _app() -> AsyncIterator[_App]:
    DB.healthy = True
    board = board_in(Phase.RUNNING)
    runner = CheckRunner(SPECS)
    registry = build_registry(board, runner, version="1.2.3", service="svc")
    app = create_app(board, runner, registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        yield _App(board, runner, client)


class TestEndpoints:
    @pytest.mark.parametrize("path", ["/healthz", "/livez"])
    async def test_liveness_ok(self, app: _App, path: str) -> None:
        """/healthz and its alias /livez answer a plain ok."""
        response = await app.client.get(path)
        assert (response.status_code, response.text) == (200, "ok\n")
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["cache-control"] == "no-store"

    async def test_readiness_ok_when_running_and_checked(self, app: _App) -> None:
        """/readyz is 200 once the child runs and every readiness check passed."""
        await app.check_all()
        response = await app.client.get("/readyz")
        assert (response.status_code, response.text) == (200, "ok\n")

    async def test_readiness_fails_before_checks_ran(self, app: _App) -> None:
        """A readiness check that never ran keeps /readyz at 503."""
        response = await app.client.get("/readyz")
        assert response.status_code == 503
        assert "[-]db failed: not checked yet" in response.text

    @pytest.mark.parametrize("phase", [Phase.STARTING, Phase.BACKOFF, Phase.EXITED, Phase.FATAL])
    async def test_readiness_fails_unless_running(self, app: _App, phase: Phase) -> None:
        """/readyz is 503 in every phase but RUNNING."""
        await app.check_all()
        publish(app.board, phase=phase)
        assert (await app.client.get("/readyz")).status_code == 503

    async def test_drain_fails_readiness_not_liveness(self, app: _App) -> None:
        """While draining: /readyz 503 with the shutdown check failed, /healthz still 200."""
        await app.check_all()
        publish(app.board, draining=True, phase=Phase.STOPPING)
        ready = await app.client.get("/readyz?verbose")
        assert ready.status_code == 503
        assert "[-]shutdown failed: draining: the runtime is stopping" in ready.text
        assert (await app.client.get("/healthz")).status_code == 200

    async def test_fatal_fails_liveness(self, app: _App) -> None:
        """A child given up (FATAL) fails /healthz with 503 and the reason."""
        publish(app.board, phase=Phase.FATAL, pid=None)
        response = await app.client.get("/healthz")
        assert response.status_code == 503
        assert "[-]process failed: child failed too often and was given up" in response.text


class TestOptions:
    async def test_verbose(self, app: _App) -> None:
        """?verbose lists each check as [+]name ok and ends with the summary line."""
        await app.check_all()
        response = await app.client.get("/readyz", params={"verbose": ""})
        assert response.status_code == 200
        assert response.text.splitlines() == [
            "[+]process ok",
            "[+]shutdown ok",
            "[+]db ok",
            "readyz check passed",
        ]
        live = await app.client.get("/livez?verbose=1")
        assert live.text.splitlines() == ["[+]process ok", "[+]heartbeat ok", "livez check passed"]

    async def test_failure_reason(self, app: _App) -> None:
        """A failing check shows [-]name failed: reason."""
        DB.healthy = False
        await app.check_all()
        response = await app.client.get("/readyz?verbose")
        assert response.status_code == 503
        assert "[-]db failed: database refused the connection" in response.text.splitlines()
        assert response.text.splitlines()[-1] == "readyz check failed"

    async def test_exclude_repeatable(self, app: _App) -> None:
        """?exclude=NAME (repeatable) leaves checks out of the verdict."""
        DB.healthy = False
        await app.check_all()
        publish(app.board, draining=True)
        response = await app.client.get(
            "/readyz", params=[("exclude", "db"), ("exclude", "shutdown"), ("exclude", "process")]
        )
        assert (response.status_code, response.text) == (200, "ok\n")
        verbose = await app.client.get("/readyz?exclude=db&verbose")
        assert "[+]db excluded: ok" in verbose.text

    @pytest.mark.parametrize(
        ("path", "status"),
        [
            ("/readyz/db", 200),
            ("/readyz/process", 200),
            ("/readyz/shutdown", 200),
            ("/healthz/heartbeat", 200),
            ("/livez/process", 200),
        ],
    )
    async def test_per_check(self, app: _App, path: str, status: int) -> None:
        """/ENDPOINT/NAME answers for one check."""
        await app.check_all()
        response = await app.client.get(path)
        assert (response.status_code, response.text) == (status, "ok\n")

    async def test_per_check_failing_while_others_pass(self, app: _App) -> None:
        """Only the named check decides the answer of /readyz/NAME."""
        await app.check_all()
        publish(app.board, draining=True)
        assert (await app.client.get("/readyz/db")).status_code == 200
        shutdown = await app.client.get("/readyz/shutdown")
        assert shutdown.status_code == 503
        assert (
            shutdown.text.splitlines()[0] == "[-]shutdown failed: draining: the runtime is stopping"
        )

    @pytest.mark.parametrize(
        "path", ["/readyz/nope", "/readyz/heartbeat", "/healthz/db", "/livez/x"]
    )
    async def test_unknown_check_is_404(self, app: _App, path: str) -> None:
        """A name the endpoint does not have answers 404."""
        assert (await app.client.get(path)).status_code == 404

    async def test_json(self, app: _App) -> None:
        """Accept: application/json gives the same verdict as JSON, same status code."""
        DB.healthy = False
        await app.check_all()
        response = await app.client.get("/readyz", headers={"Accept": "application/json"})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        body = json.loads(response.text)
        assert body["status"] == "failed"
        assert body["checks"] == [
            {"name": "process", "ok": True, "reason": "", "excluded": False, "checked": True},
            {"name": "shutdown", "ok": True, "reason": "", "excluded": False, "checked": True},
            {
                "name": "db",
                "ok": False,
                "reason": "database refused the connection",
                "excluded": False,
                "checked": True,
            },
        ]
        ok = await app.client.get("/healthz", headers={"Accept": "application/json"})
        assert json.loads(ok.text)["status"] == "ok"


class TestMethodsAndPaths:
    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/readyz/db", "/metrics"])
    async def test_writes_are_405(self, app: _App, method: str, path: str) -> None:
        """The endpoints are read-only: other methods get 405."""
        response = await app.client.request(method, path)
        assert response.status_code == 405

    async def test_head_allowed(self, app: _App) -> None:
        """HEAD works like GET without a body."""
        response = await app.client.head("/healthz")
        assert (response.status_code, response.content) == (200, b"")

    async def test_unknown_path_404(self, app: _App) -> None:
        """Anything else is 404."""
        assert (await app.client.get("/admin")).status_code == 404


class TestMetricsEndpoint:
    async def test_text_format_without_redirect(self, app: _App) -> None:
        """/metrics answers 200 directly (no 307 as a Mount would) in the text format."""
        response = await app.client.get("/metrics", follow_redirects=False)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'bots_runtime_build_info{service="svc",version="1.2.3"} 1.0' in response.text
        assert "bots_runtime_child_up 1.0" in response.text

    async def test_openmetrics_when_asked(self, app: _App) -> None:
        """Accept: application/openmetrics-text gives OpenMetrics, ending with # EOF."""
        response = await app.client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        assert response.text.endswith("# EOF\n")

    async def test_values_follow_the_board(self, app: _App) -> None:
        """A new snapshot shows at the next scrape."""
        publish(app.board, phase=Phase.BACKOFF, pid=None, restarts=2)
        text = (await app.client.get("/metrics")).text
        assert 'bots_runtime_child_state{state="backoff"} 1.0' in text
        assert "bots_runtime_child_restarts_total 2.0" in text
        assert "bots_runtime_child_up 0.0" in text


async def test_no_environment_in_any_response(app: _App, monkeypatch: pytest.MonkeyPatch) -> None:
    """No environment value appears in any endpoint's answer, in any format."""
    secret = "s3cr3t-" + os.urandom(6).hex()
    monkeypatch.setenv("BOTS_DB_PASSWORD", secret)
    monkeypatch.setenv("DATABASE_URL", f"postgres://bots:{secret}@db/bots")
    DB.healthy = False
    await app.check_all()
    paths = ["/healthz?verbose", "/readyz?verbose", "/readyz/db", "/livez/heartbeat", "/metrics"]
    for path in paths:
        for accept in ("*/*", "application/json", "application/openmetrics-text; version=1.0.0"):
            response = await app.client.get(path, headers={"Accept": accept})
            assert secret not in response.text
            assert "BOTS_DB_PASSWORD" not in response.text


def test_result_shape() -> None:
    """CheckResult is frozen data."""
    result = CheckResult(
        ok=True, detail="x", checked_at=1.0, duration=0.1, failures_in_a_row=0, since=1.0
    )
    with pytest.raises(AttributeError):
        result.ok = False  # type: ignore[misc]


async def test_hung_child_fails_liveness_after_threshold() -> None:
    """A liveness check failing past liveness_threshold turns /healthz 503 (clock injected)."""
    heartbeat = _Flag()
    heartbeat.healthy = False
    now = [100.0]
    board = board_in(Phase.RUNNING, spawned_mono=0.0)
    runner = CheckRunner(
        [CheckSpec("heartbeat", heartbeat, level=Level.LIVENESS)], clock=lambda: now[0]
    )
    registry = build_registry(board, runner, version="t", service="svc")
    app = create_app(board, runner, registry, liveness_threshold=10.0, clock=lambda: now[0])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://p"
    ) as client:
        await runner.run_once(runner.specs[0])
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz/process")).status_code == 200
        now[0] = 110.0
        assert (await client.get("/healthz")).status_code == 200
        now[0] = 110.5
        response = await client.get("/healthz/heartbeat")
        assert response.status_code == 503
        assert response.text.startswith("[-]heartbeat failed: failing for 10s: database refused")
        publish(board, draining=True, phase=Phase.STOPPING)
        assert (await client.get("/healthz")).status_code == 200
