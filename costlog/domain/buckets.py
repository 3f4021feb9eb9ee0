"""Calendar buckets in a time zone, and the UTC quarter-hour keys of the rollups. Pure.

Every bucket edge of every modern zone falls on a UTC quarter hour (offsets are whole multiples
of 15 minutes, Asia/Kolkata +05:30 and Asia/Kathmandu +05:45 included), so a bucket in any zone
is an exact union of quarter-hour rollup rows ``[key(start), key(end))`` — and of hour rows in
whole-hour zones, and of day rows in UTC.
"""

import math
import re
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from costlog.domain.event import RFC3339_RE
from costlog.errors import CostlogError

GRANULARITIES = ("hour", "day", "week", "month")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
QUARTER = timedelta(minutes=15)


class InvalidInstant(CostlogError, ValueError):
    """Text that is neither YYYY-MM-DD nor RFC 3339 with an offset."""


@dataclass(frozen=True)
class Bucket:
    start: datetime  # aware, in the zone
    end: datetime  # aware, exclusive
    label: str


def quarter_key(instant: datetime) -> str:
    """The rollup key of the UTC quarter hour holding ``instant``: ``YYYY-MM-DD HH:MM``."""
    utc = instant.astimezone(UTC)
    return f"{utc.date().isoformat()} {utc.hour:02d}:{utc.minute // 15 * 15:02d}"


def hour_key(instant: datetime) -> str:
    """The rollup key of the UTC hour holding ``instant``: ``YYYY-MM-DD HH``."""
    utc = instant.astimezone(UTC)
    return f"{utc.date().isoformat()} {utc.hour:02d}"


def six_hours_key(instant: datetime) -> str:
    """The rollup key of the UTC six hours holding ``instant``, by their first hour:
    ``YYYY-MM-DD HH`` with HH one of 00, 06, 12, 18."""
    utc = instant.astimezone(UTC)
    return f"{utc.date().isoformat()} {utc.hour // 6 * 6:02d}"


def day_key(instant: datetime) -> str:
    """The rollup key of the UTC day holding ``instant``: ``YYYY-MM-DD``."""
    return instant.astimezone(UTC).date().isoformat()


def month_key(instant: datetime) -> str:
    """The rollup key of the UTC month holding ``instant``: ``YYYY-MM``."""
    return day_key(instant)[:7]


def storage_text(instant: datetime) -> str:
    """cost_log's timestamp text for ``instant``: UTC ``YYYY-MM-DD HH:MM:SS``."""
    return instant.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" ")


def ceil_quarter(instant: datetime) -> datetime:
    """The first UTC quarter-hour boundary at or after ``instant``."""
    utc = instant.astimezone(UTC)
    floor = utc.replace(minute=utc.minute // 15 * 15, second=0, microsecond=0)
    return floor if floor == utc else floor + QUARTER


def ceil_hour(instant: datetime) -> datetime:
    """The first UTC hour boundary at or after ``instant``."""
    utc = instant.astimezone(UTC)
    floor = utc.replace(minute=0, second=0, microsecond=0)
    return floor if floor == utc else floor + timedelta(hours=1)


def ceil_day(instant: datetime) -> datetime:
    """The first UTC midnight at or after ``instant``."""
    utc = instant.astimezone(UTC)
    floor = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return floor if floor == utc else floor + timedelta(days=1)


def ceil_month(instant: datetime) -> datetime:
    """The first UTC month start at or after ``instant`` (OverflowError past year 9999)."""
    floor = floor_month(instant)
    if floor == instant.astimezone(UTC):
        return floor
    year, month = (floor.year + 1, 1) if floor.month == 12 else (floor.year, floor.month + 1)
    if year > MAXYEAR:
        raise OverflowError("no month start after December 9999")
    return floor.replace(year=year, month=month)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    # A midnight skipped by DST resolves (fold=0) to the instant the day actually starts.
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _first_day(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def floor(instant: datetime, granularity: str, tz: ZoneInfo) -> datetime:
    """Start of the ``granularity`` bucket in ``tz`` that holds ``instant``."""
    local = instant.astimezone(tz)
    if granularity == "hour":
        # replace() keeps fold, so the repeated hour when clocks go back stays distinct.
        return local.replace(minute=0, second=0, microsecond=0)
    return _midnight(_first_day(local.date(), granularity), tz)


def following(start: datetime, granularity: str, tz: ZoneInfo) -> datetime:
    """Start of the bucket after the one starting at ``start``."""
    if granularity == "hour":
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    day = start.astimezone(tz).date()
    if granularity == "day":
        return _midnight(day + timedelta(days=1), tz)
    if granularity == "week":
        return _midnight(day + timedelta(days=7), tz)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return _midnight(date(year, month, 1), tz)


def label(start: datetime, granularity: str) -> str:
    if granularity == "hour":
        return f"{start.date().isoformat()} {start.hour:02d}:00"
    return start.date().isoformat()


class TooManyBuckets(CostlogError, ValueError):
    """A range spans more buckets than the caller allows."""


def buckets(start: datetime, end: datetime, granularity: str, tz: ZoneInfo,
            limit: int) -> list[Bucket]:
    """Whole buckets from the one holding ``start`` to the one holding ``end``, in order.

    Raises :class:`TooManyBuckets` as soon as there would be more than ``limit``.
    """
    result: list[Bucket] = []
    current = floor(start, granularity, tz)
    while current <= end:
        if len(result) == limit:
            raise TooManyBuckets(f"more than {limit} buckets")
        nxt = following(current, granularity, tz)
        result.append(Bucket(current, nxt, label(current, granularity)))
        current = nxt
    return result


def parse_instant(text: str, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` (a date in ``tz``) or RFC 3339 with an offset → aware datetime.

    With ``end_of_day`` a date means its whole day: the last second before the next midnight.
    """
    try:
        if DATE_RE.fullmatch(text):
            day = date.fromisoformat(text)
            if not end_of_day:
                return _midnight(day, tz).astimezone(tz)
            if day == date.max:  # no next midnight to count back from
                return datetime.combine(day, time(23, 59, 59), tzinfo=tz)
            return _midnight(day + timedelta(days=1), tz).astimezone(tz) - timedelta(seconds=1)
        if RFC3339_RE.fullmatch(text):
            parsed = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
            return parsed.astimezone(UTC).astimezone(tz)
    except (ValueError, OverflowError):
        pass
    raise InvalidInstant(text)


def month_bounds(instant: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month in ``tz`` holding ``instant``: 1st 00:00 to the next 1st 00:00."""
    start = floor(instant, "month", tz)
    return start, following(start, "month", tz)


def rfc3339(instant: datetime) -> str:
    """Seconds precision with the zone's offset (``Z`` is not used: the offset is the point).

    RFC 3339 offsets are whole minutes. A local mean time's offset (New York's -04:56:02 before
    1883) is written rounded up to the minute, the local time moved with it: the same instant,
    shown at most 59 s after the zone's own clock, so never on the day before a midnight.
    """
    offset = instant.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        minutes = math.ceil(offset / timedelta(minutes=1))
        instant = instant.astimezone(timezone(timedelta(minutes=minutes)))
    return instant.isoformat(timespec="seconds")


def floor_quarter(instant: datetime) -> datetime:
    """The last UTC quarter-hour boundary at or before ``instant``."""
    utc = instant.astimezone(UTC)
    return utc.replace(minute=utc.minute // 15 * 15, second=0, microsecond=0)


def floor_day(instant: datetime) -> datetime:
    """The last UTC midnight at or before ``instant``."""
    return instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def floor_month(instant: datetime) -> datetime:
    """The last UTC month start at or before ``instant``."""
    return floor_day(instant).replace(day=1)


#: The years whose local midnights decide a zone's local-day offsets.
LOCAL_DAY_YEARS = (2000, 2100)
#: The offsets a local-day rollup can hold: whole quarter hours, within a day either way.
MAX_OFFSET_MINUTES = 24 * 60 - 15


def local_day_offsets(tz: ZoneInfo) -> list[int]:
    """The UTC offsets (minutes east) of ``tz``'s midnights from 2000 to 2100, sorted: a day
    in ``tz`` that starts and ends at the same one of them is that offset's local day. Offsets
    off the quarter-hour grid (local mean times) are left out: no rollup key could hold them."""
    found: set[int] = set()
    day, last = date(LOCAL_DAY_YEARS[0], 1, 1), date(LOCAL_DAY_YEARS[1], 1, 1)
    while day < last:
        offset = _midnight(day, tz).utcoffset()
        minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
        if minutes % 15 == 0 and abs(minutes) <= MAX_OFFSET_MINUTES:
            found.add(minutes)
        day += timedelta(days=1)
    return sorted(found)


def edge_offset(edge: datetime) -> int | None:
    """The UTC offset in minutes east, modulo a day (0 to 1439), of the zones whose midnight
    ``edge`` is; None off the minute grid."""
    utc = edge.astimezone(UTC)
    if utc.second or utc.microsecond:
        return None
    return -(utc.hour * 60 + utc.minute) % (24 * 60)
