"""Write access: a bearer token when COSTLOG_API_TOKEN is set, else loopback only."""

import hashlib
import hmac
import ipaddress

from starlette.requests import Request

from api import errors
from costlog.settings import Settings


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


def require_write_access(request: Request, settings: Settings) -> None:
    """Raise 401/403 unless this request may write."""
    if settings.api_token:
        if not token_matches(request.headers.get("authorization"), settings.api_token):
            raise errors.ApiError(401, errors.BAD_TOKEN, {"WWW-Authenticate": "Bearer"})
        return
    client = request.client
    if client is None or not is_loopback(client.host):
        raise errors.ApiError(403, errors.LOOPBACK_ONLY)
