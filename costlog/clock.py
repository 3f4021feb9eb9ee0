"""The one injectable clock: everything that reads the time calls :func:`now`.

Tests set it in process with :func:`set_clock`; for processes they start, ``COSTLOG_NOW`` (an
RFC 3339 instant) pins the clock of the whole process.
"""

import os
from collections.abc import Callable
from datetime import UTC, datetime


def _system() -> datetime:
    return datetime.now(UTC)


def fixed(instant: datetime) -> Callable[[], datetime]:
    """A clock source that always answers ``instant``."""
    return lambda: instant


def _initial() -> Callable[[], datetime]:
    pinned = os.environ.get("COSTLOG_NOW", "").strip()
    return fixed(datetime.fromisoformat(pinned.replace("Z", "+00:00"))) if pinned else _system


_source: Callable[[], datetime] = _initial()


def now() -> datetime:
    """The current instant as an aware UTC datetime."""
    return _source().astimezone(UTC)


def set_clock(source: Callable[[], datetime]) -> Callable[[], datetime]:
    """Replace the clock (tests); returns the previous source so it can be restored."""
    global _source
    previous, _source = _source, source
    return previous
