"""The health and metrics app: `/healthz` (alias `/livez`), `/readyz` and `/metrics`.

Every endpoint only reads: the board the supervisor publishes, the check runner's latest
results and the metrics registry. Answers therefore cost a fraction of a millisecond and never
wait on a check, a child or a slow client.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bots_runtime.core import health

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry
    from starlette.requests import Request

    from bots_runtime.core.state import Board
    from bots_runtime.web.checks import CheckRunner

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _line_json(line: health.Line) -> dict[str, object]:
    """One check in the JSON verdict; `warning` only when a passing check has a caveat."""
    out: dict[str, object] = {
        "name": line.name,
        "ok": line.ok,
        "reason": line.reason,
        "excluded": line.excluded,
        "checked": not line.unchecked,
    }
    if line.warning:
        out["warning"] = line.warning
    return out


def create_app(
    board: Board,
    runner: CheckRunner,
    registry: CollectorRegistry,
    *,
    liveness_threshold: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The app: `/healthz` (alias `/livez`), `/readyz`, one path per check, and `/metrics`."""

    def answer(request: Request, endpoint: str, only: str | None) -> Response:
        try:
            verdict = health.evaluate(
                endpoint,
                board.snapshot,
                runner.results(),
                runner.specs,
                exclude=request.query_params.getlist("exclude"),
                only=only,
                now=clock(),
                liveness_threshold=liveness_threshold,
            )
        except health.UnknownCheckError:
            return PlainTextResponse(f"no check named {only!r} in {endpoint}\n", 404, _HEADERS)
        if _wants_json(request):
            body = {
                "status": "ok" if verdict.ok else "failed",
                "endpoint": endpoint,
                "checks": [_line_json(line) for line in verdict.lines],
            }
            return Response(json.dumps(body) + "\n", verdict.status, _HEADERS, "application/json")
        verbose = "verbose" in request.query_params
        return PlainTextResponse(verdict.render(verbose=verbose), verdict.status, _HEADERS)

    def endpoint_route(path: str, endpoint: str) -> list[Route]:
        async def whole(request: Request) -> Response:
            return answer(request, endpoint, None)

        async def single(request: Request) -> Response:
            return answer(request, endpoint, request.path_params["name"])

        return [
            Route(path, whole, methods=["GET"]),
            Route(path + "/{name}", single, methods=["GET"]),
        ]

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), 200, {"Cache-Control": "no-store"}, content_type)

    routes = [
        *endpoint_route("/healthz", "healthz"),
        *endpoint_route("/livez", "livez"),
        *endpoint_route("/readyz", "readyz"),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes)
