"""The baseline: a bare Starlette app serving the same response as the service's /healthz."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"cache-control": "no-store"})


app = Starlette(routes=[Route("/healthz", healthz)])
