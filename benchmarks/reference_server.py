"""The floor for an HTTP probe on this stack: a bare starlette app on uvicorn, /readyz -> 200.

Same settings as the peer baselines (h11, the asyncio loop, no access log, no lifespan), so
bots-runtime's /readyz can be judged against what the libraries cost by themselves.
usage: python reference_server.py PORT
"""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def readyz(_request: Request) -> PlainTextResponse:
    """Always ready: the measurement is of the stack, not of a check."""
    return PlainTextResponse("ok")


def main(port: int) -> None:
    """Serve on 127.0.0.1:`port` until SIGTERM."""
    app = Starlette(routes=[Route("/readyz", readyz)])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="h11",
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level="warning",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
