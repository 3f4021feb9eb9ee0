"""The dashboard's HTML pages and static assets.

Pages are plain HTML (a shared layout around each page's main part); the figures on them come
from the JSON API, read by ``/static/app.js`` in the browser. The server only writes in its own
clock, so rolling windows computed in the browser agree with the API's (also under
``COSTLOG_NOW``). A Content-Security-Policy keeps every request on the page's own origin.
"""

import hashlib
import html
import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

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


#: A content-hashed asset never changes under its name: caches may keep it for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
#: In a template, ``{{asset:app.js}}`` is the asset's content-hashed URL.
ASSET_REF = re.compile(r"\{\{asset:([\w.-]+)\}\}")
HASH_LENGTH = 12


@dataclass(frozen=True)
class Asset:
    path: Path
    url: str  # /static/<stem>.<hash of the content><suffix>
    media_type: str


@cache
def assets() -> dict[str, Asset]:
    """Every file of api/static/ by its plain name, with the URL its content names (read
    once, at the app's start: a changed file gets a new URL, so a cached copy is never
    stale)."""
    found = {}
    for path in sorted(STATIC.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
        found[path.name] = Asset(path, f"/static/{path.stem}.{digest}{path.suffix}",
                                 mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    return found


@cache
def _by_url() -> dict[str, Asset]:
    return {asset.url.removeprefix("/static/"): asset for asset in assets().values()}


def static(request: Request) -> Response:
    """``/static/<name>``: a content-hashed name is cached for a year; a plain name (links
    from elsewhere) is served too, revalidated each time."""
    name = request.path_params["name"]
    hashed = _by_url().get(name)
    asset = hashed or assets().get(name)
    if asset is None:
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(asset.path, media_type=asset.media_type,
                        headers={"Cache-Control": IMMUTABLE if hashed else "no-cache"})


@dataclass(frozen=True)
class Page:
    path: str
    template: str  # the page's main part, in api/templates/
    title: str


def _with_assets(text: str) -> str:
    return ASSET_REF.sub(lambda match: assets()[match.group(1)].url, text)


@cache
def _layout() -> str:
    return _with_assets((TEMPLATES / "layout.html").read_text(encoding="utf-8"))


@cache
def _main(template: str) -> str:
    return _with_assets((TEMPLATES / template).read_text(encoding="utf-8"))


def render(page: Page) -> str:
    now = clock.now().isoformat().replace("+00:00", "Z")
    return (_layout().replace("{{title}}", html.escape(page.title))
            .replace("{{now}}", now).replace("{{main}}", _main(page.template))
            .replace("{{periods}}", _main("periods.html")))


def handler(page: Page):
    def serve(request: Request) -> Response:
        return HTMLResponse(render(page), headers=SECURITY_HEADERS)

    return serve


def favicon(request: Request) -> Response:
    # Browsers ask for /favicon.ico whatever the page links; an SVG answers both.
    return FileResponse(assets()["favicon.svg"].path, media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})


PAGES: tuple[Page, ...] = (
    Page("/", "dashboard.html", "costlog"),
    # ":path": initiative ids may hold '/' (sent as %2F), as in the API.
    Page("/initiatives/{id:path}", "initiative.html", "Initiative · costlog"),
)
