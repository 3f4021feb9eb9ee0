"""Query parameters shared by the read endpoints; every bad value is a 400, never a 500."""

import re
from functools import lru_cache
from zoneinfo import ZoneInfo

from starlette.requests import Request

from api import errors
from costlog.constants import ALL_PROJECTS
from costlog.settings import Settings

LIMIT_RE = re.compile(r"[0-9]{1,4}")
MAX_LIMIT = 1000
#: Longer than any IANA key; longer text is refused before it reaches the file system.
MAX_ZONE_KEY = 128
ZONE_KEY_RE = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


@lru_cache(maxsize=256)
def load_zone(key: str) -> ZoneInfo:
    """The zone named ``key`` or ApiError 400.

    ZoneInfo raises many different exceptions for odd keys ('../etc', absolute paths, a
    directory, NUL bytes, very long names): the key is checked for the shape of an IANA name
    first, and anything ZoneInfo still refuses is the same 400.
    """
    if not key or len(key) > MAX_ZONE_KEY or not ZONE_KEY_RE.fullmatch(key):
        raise errors.ApiError(400, errors.INVALID_TZ)
    try:
        return ZoneInfo(key)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, OSError, ...
        raise errors.ApiError(400, errors.INVALID_TZ) from None


def zone(request: Request, settings: Settings) -> ZoneInfo:
    """``tz``: an IANA zone; default COSTLOG_TZ, else UTC."""
    raw = request.query_params.get("tz")
    return load_zone(settings.tz if raw is None else raw)


def project(request: Request, settings: Settings) -> str | None:
    """``project``: absent → COSTLOG_PROJECT, else None (all projects); empty → 400.

    ``*`` (the reserved all-projects id) also means all projects.
    """
    raw = request.query_params.get("project")
    if raw is None:
        raw = settings.project
    elif raw == "":
        raise errors.ApiError(400, errors.INVALID_PROJECT)
    return None if raw in (None, ALL_PROJECTS) else raw


def limit(request: Request) -> int | None:
    """``limit``: absent → None, else an integer from 1 to 1000."""
    raw = request.query_params.get("limit")
    if raw is None:
        return None
    if not LIMIT_RE.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise errors.ApiError(400, errors.INVALID_LIMIT)
    return int(raw)


def text(request: Request, name: str, default: str | None = None) -> str | None:
    """A plain string parameter (validated by the query layer)."""
    return request.query_params.get(name, default)
