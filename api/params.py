"""Query parameters shared by the read endpoints; every bad value is a 400, never a 500."""

import re
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from starlette.requests import Request

from api import errors
from costlog.constants import ALL_PROJECTS
from costlog.settings import Settings

LIMIT_RE = re.compile(r"[0-9]{1,4}")
MAX_LIMIT = 1000
#: The IANA time zone names, as the tzdata package lists them: ZoneInfo also opens other files
#: of the system's zoneinfo folder ('localtime', whose meaning changes with the host, 'posix/…',
#: '../etc'), so only these names are accepted. The OpenAPI document lists the same names.
IANA_ZONES: tuple[str, ...] = tuple(sorted(
    resources.files("tzdata").joinpath("zones").read_text().split()))
_IANA_ZONE_SET = frozenset(IANA_ZONES)


@lru_cache(maxsize=256)
def load_zone(key: str) -> ZoneInfo:
    """The zone named ``key`` (an IANA name) or ApiError 400.

    Only names in IANA_ZONES reach ZoneInfo (which raises many different exceptions for odd
    keys); anything ZoneInfo still refuses is the same 400.
    """
    if key not in _IANA_ZONE_SET:
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
