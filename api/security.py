"""Who may talk to the API, checked before any handler runs its query or reads a body.

- Every request: the ``Host`` header must name the API itself (its bind address, loopback, or a
  name in COSTLOG_ALLOWED_HOSTS), else 400: a page on a rebinding domain cannot reach it.
- Writes: an ``Origin`` other than the API's own or one in COSTLOG_CORS_ORIGINS is refused
  (403), the body must be declared ``application/json`` (415: a browser sends that cross-site
  only after a CORS preflight; the OTLP paths also take ``application/x-protobuf``, which a
  browser cannot send cross-site without a preflight either), then a bearer token when
  COSTLOG_API_TOKEN is set, else loopback clients only.
"""

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api import errors
from costlog.constants import LOOPBACK_HOST_NAMES
from costlog.settings import Settings

JSON_MEDIA_TYPE = "application/json"
JSON_ONLY = frozenset({JSON_MEDIA_TYPE})
DEFAULT_PORTS = {"http": 80, "https": 443}
#: ``name[:port]`` or ``[ipv6][:port]`` (RFC 3986 reg-name characters; no user info, no path).
HOST_RE = re.compile(
    r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._~!$&'()*+,;=%-]+))(?::(?P<port>[0-9]{1,5}))?"
)


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything else (or None)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def token_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time.

    Both sides are hashed first so neither the value nor the length of the token leaks through
    timing. Starlette decodes header bytes as latin-1, so re-encoding gives the bytes sent.
    """
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    sent = hashlib.sha256(value.strip().encode("latin-1", "replace")).digest()
    expected = hashlib.sha256(token.encode("utf-8")).digest()
    return hmac.compare_digest(sent, expected)


def split_host(value: str) -> tuple[str, int | None] | None:
    """A ``Host`` value as (lower-cased name without brackets, port or None); None if malformed.

    ``localhost:8787`` → ('localhost', 8787); ``[::1]:8787`` → ('::1', 8787).
    """
    match = HOST_RE.fullmatch(value.strip().lower())
    if match is None:
        return None
    return match["ipv6"] or match["name"], int(match["port"]) if match["port"] else None


class HostGuard:
    """400 ``invalid host header`` unless the Host names the API: its own address (the local
    socket address, i.e. the bind address), loopback, or a COSTLOG_ALLOWED_HOSTS entry
    (``name``, ``*.domain`` for its subdomains, or ``*`` for any)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        names = set(LOOPBACK_HOST_NAMES)
        for entry in allowed:
            split = split_host(entry)
            names.add(split[0] if split else entry.strip().lower())
        self.names = frozenset(names)
        self.any = "*" in names
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))

    def allows(self, name: str, server: tuple[str, int] | None) -> bool:
        if self.any or name in self.names or (self.suffixes and name.endswith(self.suffixes)):
            return True
        return server is not None and name == str(server[0]).lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = Headers(scope=scope).get("host")
        split = split_host(raw) if raw else None
        if split is None or not self.allows(split[0], scope.get("server")):
            await errors.error_response(400, errors.INVALID_HOST)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _origin_key(origin: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


def same_origin(origin: str, request: Request) -> bool:
    """``Origin`` is the API's own: the scheme it was reached by and the Host it was sent to."""
    host = split_host(request.headers.get("host", ""))
    key = _origin_key(origin)
    if host is None or key is None:
        return False
    scheme = request.url.scheme
    own_port = host[1] or DEFAULT_PORTS.get(scheme)
    return key == (scheme, host[0], own_port)


def origin_allowed(origin: str, request: Request, cors_origins: Iterable[str]) -> bool:
    listed = set(cors_origins)
    return "*" in listed or origin in listed or same_origin(origin, request)


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def require_write_access(request: Request, settings: Settings, *,
                         media_types: frozenset[str] = JSON_ONLY,
                         media_error: str = errors.UNSUPPORTED_MEDIA) -> None:
    """Raise 403/415/401/403 unless this request may write (see the module's docstring).

    ``media_types`` widens the JSON-only rule for the paths that take another body (OTLP's
    protobuf), with ``media_error`` as the 415's text.
    """
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(origin, request, settings.cors_origins):
        raise errors.ApiError(403, errors.CROSS_ORIGIN)
    if media_type(request.headers.get("content-type")) not in media_types:
        raise errors.ApiError(415, media_error)
    if settings.api_token:
        if not token_matches(request.headers.get("authorization"), settings.api_token):
            raise errors.ApiError(401, errors.BAD_TOKEN, {"WWW-Authenticate": "Bearer"})
        return
    client = request.client
    if client is None or not is_loopback(client.host):
        raise errors.ApiError(403, errors.LOOPBACK_ONLY)
