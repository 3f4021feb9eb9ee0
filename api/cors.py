"""CORS for the origins listed in COSTLOG_CORS_ORIGINS only.

Hand-written rather than Starlette's CORSMiddleware so that nothing it answers leaves the JSON
error shape: a preflight from an origin that is not listed is not answered here at all (it
reaches the router, which has no OPTIONS routes: a JSON 405, and no CORS header).
"""

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, PUT, POST"
ALLOW_HEADERS = "Authorization, Content-Type"
MAX_AGE = "600"


class CorsMiddleware:
    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.any_origin = "*" in self.origins

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = self.allowed(origin)
        if (allowed and scope["method"] == "OPTIONS"
                and "access-control-request-method" in headers):
            response = Response(status_code=204, headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
                "Vary": "Origin",
            })
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["Access-Control-Allow-Origin"] = origin
            await send(message)

        await self.app(scope, receive, send_with_cors)
