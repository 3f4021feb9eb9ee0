"""The dashboard's HTML pages and static assets.

Pages are plain HTML (a shared layout around each page's main part); the figures on them come
from the JSON API, read by ``/static/app.js`` in the browser. The server only writes in its own
clock, so rolling windows computed in the browser agree with the API's (also under
``COSTLOG_NOW``). A Content-Security-Policy keeps every request on the page's own origin.
"""

import html
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from costlog import clock

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Page:
    path: str
    template: str  # the page's main part, in api/templates/
    title: str


@cache
def _layout() -> str:
    return (TEMPLATES / "layout.html").read_text(encoding="utf-8")


@cache
def _main(template: str) -> str:
    return (TEMPLATES / template).read_text(encoding="utf-8")


def render(page: Page) -> str:
    now = clock.now().isoformat().replace("+00:00", "Z")
    return (_layout().replace("{{title}}", html.escape(page.title))
            .replace("{{now}}", now).replace("{{main}}", _main(page.template)))


def handler(page: Page):
    def serve(request: Request) -> Response:
        return HTMLResponse(render(page), headers=SECURITY_HEADERS)

    return serve


def favicon(request: Request) -> Response:
    # Browsers ask for /favicon.ico whatever the page links; an SVG answers both.
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})


PAGES: tuple[Page, ...] = (
    Page("/", "dashboard.html", "costlog"),
    # ":path": initiative ids may hold '/' (sent as %2F), as in the API.
    Page("/initiatives/{id:path}", "initiative.html", "Initiative · costlog"),
)
