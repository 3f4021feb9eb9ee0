"""Calendar buckets in a zone, over UTC quarter-hour rollup keys (pure)."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from costlog.domain import buckets

NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def day(text: str, tz: ZoneInfo, granularity: str) -> list[tuple[str, str, str]]:
    start = buckets.parse_instant(text, tz)
    end = buckets.parse_instant(text, tz, end_of_day=True)
    return [(b.label, buckets.rfc3339(b.start), buckets.quarter_key(b.start))
            for b in buckets.buckets(start, end, granularity, tz, 10_000)]


def test_fall_back_day_has_25_hours_with_distinct_starts() -> None:
    hours = day("2026-11-01", NY, "hour")
    assert len(hours) == 25
    assert hours[:4] == [
        ("2026-11-01 00:00", "2026-11-01T00:00:00-04:00", "2026-11-01 04:00"),
        ("2026-11-01 01:00", "2026-11-01T01:00:00-04:00", "2026-11-01 05:00"),
        ("2026-11-01 01:00", "2026-11-01T01:00:00-05:00", "2026-11-01 06:00"),
        ("2026-11-01 02:00", "2026-11-01T02:00:00-05:00", "2026-11-01 07:00"),
    ]
    assert hours[-1] == ("2026-11-01 23:00", "2026-11-01T23:00:00-05:00", "2026-11-02 04:00")


def test_spring_forward_day_has_23_hours() -> None:
    hours = day("2026-03-08", NY, "hour")
    assert len(hours) == 23
    assert [label for label, _, _ in hours[1:3]] == ["2026-03-08 01:00", "2026-03-08 03:00"]


@pytest.mark.parametrize(
    ("tz", "key"),
    [(KOLKATA, "2026-10-31 18:30"), (KATHMANDU, "2026-10-31 18:15"), (NY, "2026-11-01 04:00"),
     (ZoneInfo("UTC"), "2026-11-01 00:00")],
)
def test_day_edges_fall_on_quarter_hours(tz: ZoneInfo, key: str) -> None:
    assert day("2026-11-01", tz, "day") == [
        ("2026-11-01", buckets.rfc3339(datetime(2026, 11, 1, tzinfo=tz)), key)]


@pytest.mark.parametrize(
    ("instant", "granularity", "label"),
    [
        ("2026-11-04T15:00:00Z", "week", "2026-11-02"),  # a Wednesday -> its Monday
        ("2026-11-02T04:59:00Z", "week", "2026-10-26"),  # Sunday evening in New York
        ("2026-01-01T03:00:00Z", "week", "2025-12-29"),  # ISO week crossing the year
        ("2026-11-01T03:59:59Z", "month", "2026-10-01"),
        ("2026-11-01T04:00:00Z", "month", "2026-11-01"),
        ("2026-11-01T05:30:00Z", "hour", "2026-11-01 01:00"),
        ("2026-11-01T06:30:00Z", "hour", "2026-11-01 01:00"),
        ("2026-11-01T06:30:00Z", "day", "2026-11-01"),
    ],
)
def test_floor_labels_in_new_york(instant: str, granularity: str, label: str) -> None:
    start = buckets.floor(buckets.parse_instant(instant, NY), granularity, NY)
    assert buckets.label(start, granularity) == label


@pytest.mark.parametrize(
    ("instant", "key"),
    [("2026-11-01T00:14:59Z", "2026-11-01 00:00"), ("2026-11-01T00:15:00Z", "2026-11-01 00:15"),
     ("2026-11-01T05:59:59+05:30", "2026-11-01 00:15"),
     ("0999-01-01T00:50:00Z", "0999-01-01 00:45")],
)
def test_quarter_key(instant: str, key: str) -> None:
    assert buckets.quarter_key(buckets.parse_instant(instant, ZoneInfo("UTC"))) == key


@pytest.mark.parametrize(
    "text", ["2026-13-01", "2026-02-30", "yesterday", "2026-11-01T10:00:00", "2026-11-01 10:00",
             "", "9999-12-31T23:59:59-23:59"],
)
def test_parse_instant_rejects(text: str) -> None:
    with pytest.raises(buckets.InvalidInstant):
        buckets.parse_instant(text, NY)


def test_date_only_end_means_the_whole_day() -> None:
    assert buckets.rfc3339(buckets.parse_instant("2026-11-01", NY, end_of_day=True)) == (
        "2026-11-01T23:59:59-05:00")


def test_month_bounds_and_count_limit() -> None:
    start, end = buckets.month_bounds(datetime(2026, 11, 1, 3, tzinfo=UTC), NY)
    assert (buckets.rfc3339(start), buckets.rfc3339(end)) == (
        "2026-10-01T00:00:00-04:00", "2026-11-01T00:00:00-04:00")
    year_start = buckets.parse_instant("2026-01-01", NY)
    year_end = buckets.parse_instant("2026-12-31", NY, end_of_day=True)
    assert len(buckets.buckets(year_start, year_end, "hour", NY, 8760)) == 8760
    with pytest.raises(buckets.TooManyBuckets, match="^more than 8759 buckets$"):
        buckets.buckets(year_start, year_end, "hour", NY, 8759)


@pytest.mark.parametrize(("instant", "floor", "ceil"), [
    ("2026-11-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00"),
    ("2026-10-31T20:00:00-05:00", "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00"),
    ("2026-12-31T23:59:59+00:00", "2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),
    ("0001-01-01T00:00:01+00:00", "0001-01-01T00:00:00+00:00", "0001-02-01T00:00:00+00:00"),
])
def test_utc_month_boundaries(instant: str, floor: str, ceil: str) -> None:
    moment = datetime.fromisoformat(instant)
    assert buckets.floor_month(moment).isoformat() == floor
    assert buckets.ceil_month(moment).isoformat() == ceil
    assert buckets.month_key(moment) == floor[:7]


def test_no_month_starts_after_december_9999() -> None:
    with pytest.raises(OverflowError):
        buckets.ceil_month(datetime(9999, 12, 1, 0, 0, 1, tzinfo=UTC))
    assert buckets.ceil_month(datetime(9999, 12, 1, tzinfo=UTC)).month == 12


@pytest.mark.parametrize(("zone", "offsets"), [
    ("America/New_York", [-300, -240]),
    ("Europe/Berlin", [60, 120]),
    ("Europe/Moscow", [180, 240]),  # +04:00 from 2011 to 2014
    ("Asia/Kolkata", [330]),
    ("Asia/Kathmandu", [345]),
    ("Australia/Lord_Howe", [630, 660]),  # half an hour of summer time
    ("Pacific/Apia", [-660, -600, 780, 840]),  # crossed the date line in 2011
    ("UTC", [0]),
])
def test_local_day_offsets_are_a_zones_midnights_from_2000_to_2100(zone: str,
                                                                   offsets: list[int]) -> None:
    assert buckets.local_day_offsets(ZoneInfo(zone)) == offsets


@pytest.mark.parametrize(("edge", "offset"), [
    (datetime(2026, 11, 20, 0, 0, tzinfo=UTC), 0),
    (datetime(2026, 11, 20, 5, 0, tzinfo=UTC), 1140),  # New York's midnight: -300 modulo a day
    (datetime(2026, 7, 20, 4, 0, tzinfo=UTC), 1200),
    (datetime(2026, 11, 19, 18, 30, tzinfo=UTC), 330),  # Kolkata's
    (datetime(2026, 11, 19, 18, 15, tzinfo=UTC), 345),  # Kathmandu's
    (datetime(2026, 11, 20, 0, 0, tzinfo=ZoneInfo("America/New_York")), 1140),
    (datetime(2026, 11, 20, 0, 0, 30, tzinfo=UTC), None),  # off the minute: no zone's
])
def test_edge_offset_is_the_offset_whose_midnight_the_edge_is(edge: datetime,
                                                              offset: int | None) -> None:
    assert buckets.edge_offset(edge) == offset


RFC3339_OFFSET = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$"


@pytest.mark.parametrize(("instant", "text"), [
    # Local mean times: offsets with seconds, which RFC 3339 cannot write. The offset is
    # written rounded up to the minute and the local time moved with it: the same instant,
    # never shown on the day before a midnight.
    (datetime(1850, 1, 1, tzinfo=NY), "1850-01-01T00:00:02-04:56"),
    (datetime(1930, 6, 1, tzinfo=ZoneInfo("Europe/Amsterdam")), "1930-06-01T00:00:28+01:20"),
    (datetime(1900, 1, 1, tzinfo=KOLKATA), "1900-01-01T00:00:50+05:22"),
    (datetime(2026, 11, 1, 1, tzinfo=NY), "2026-11-01T01:00:00-04:00"),
    (datetime(2026, 11, 1, tzinfo=KATHMANDU), "2026-11-01T00:00:00+05:45"),
])
def test_rfc3339_offsets_are_whole_minutes(instant: datetime, text: str) -> None:
    written = buckets.rfc3339(instant)
    assert written == text
    assert re.fullmatch(RFC3339_OFFSET, written)
    # Compared in UTC: Python never calls an ambiguous local time equal across zones.
    assert datetime.fromisoformat(written).astimezone(UTC) == instant.astimezone(UTC)
