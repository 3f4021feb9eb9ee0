"""The one injectable clock: everything that reads the time calls :func:`now`."""

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current instant as an aware UTC datetime."""
    return _source().astimezone(UTC)


def set_clock(source: Callable[[], datetime]) -> Callable[[], datetime]:
    """Replace the clock (tests); returns the previous source so it can be restored."""
    global _source
    previous, _source = _source, source
    return previous


def fixed(instant: datetime) -> Callable[[], datetime]:
    """A clock source that always answers ``instant``."""
    return lambda: instant
