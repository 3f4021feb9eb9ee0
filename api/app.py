"""The Starlette app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from api import errors, openapi, pages, params
from api.cors import CorsMiddleware
from api.metrics import TimingMiddleware
from api.resources import Resources
from api.routes import ENDPOINTS, routes
from api.security import HostGuard
from costlog.constants import GZIP_MINIMUM_BYTES
from costlog.settings import Settings


def create_app(settings: Settings | None = None) -> Starlette:
    """The API for ``settings`` (default: from the environment).

    Raises ValueError when COSTLOG_TZ names no time zone, rather than answering 400 to every
    request later.
    """
    settings = settings or Settings.from_env()
    try:
        params.load_zone(settings.tz)
    except errors.ApiError:
        raise ValueError(f"COSTLOG_TZ: unknown time zone {settings.tz!r}") from None
    resources = Resources(settings)
    pages.assets()  # the assets' content-hashed URLs, once, before the first page

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        resources.open()
        try:
            yield
        finally:
            resources.close()

    # The Host check first: nothing else answers a request sent to a rebinding domain.
    middleware = [Middleware(HostGuard, allowed=settings.allowed_hosts),
                  # Text of 1 KiB or more, gzipped for clients that accept it (streams too).
                  Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)]
    if settings.cors_origins:
        middleware.append(Middleware(CorsMiddleware, origins=settings.cors_origins))
    middleware.append(Middleware(TimingMiddleware, metrics=resources.metrics))
    app = Starlette(
        routes=list(routes),
        middleware=middleware,
        exception_handlers=dict(errors.EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.costlog = resources
    app.state.settings = settings
    app.state.openapi = openapi.build(ENDPOINTS)
    return app
