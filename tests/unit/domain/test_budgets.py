"""A budget status's arithmetic, pure: remaining, percent, projection, days left, flags."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from costlog.domain import buckets
from costlog.domain.budgets import figures

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")


def _figures(limit: float, threshold: int, spent: float, now: datetime,
             tz: ZoneInfo = UTC_ZONE) -> dict:
    start, end = buckets.month_bounds(now, tz)
    return figures(limit=limit, threshold=threshold, spent=spent, month_start=start,
                   month_end=end, now=now, tz=tz)


@pytest.mark.parametrize(("limit", "threshold", "spent", "now", "expected"), [
    # Half of December gone (15.5 of 31 days), $100 of $500: on track for $200.
    (500.0, 80, 100.0, datetime(2026, 12, 16, 12, tzinfo=UTC),
     {"remaining_usd": 400.0, "percent_used": 20.0, "projected_monthly": 200.0,
      "days_remaining": 15, "on_track": True, "at_alert_threshold": False,
      "over_budget": False}),
    # The first hour of the month counts as a whole day: $10 projects to $310, not $7,440.
    (500.0, 80, 10.0, datetime(2026, 12, 1, 1, tzinfo=UTC),
     {"remaining_usd": 490.0, "percent_used": 2.0, "projected_monthly": 310.0,
      "days_remaining": 30, "on_track": True, "at_alert_threshold": False,
      "over_budget": False}),
    # At the threshold exactly, and a projection past the limit.
    (100.0, 80, 80.0, datetime(2026, 12, 16, 12, tzinfo=UTC),
     {"remaining_usd": 20.0, "percent_used": 80.0, "projected_monthly": 160.0,
      "days_remaining": 15, "on_track": False, "at_alert_threshold": True,
      "over_budget": False}),
    # Over: remaining goes negative.
    (100.0, 80, 125.0, datetime(2026, 12, 31, 12, tzinfo=UTC),
     {"remaining_usd": -25.0, "percent_used": 125.0,
      "projected_monthly": 125.0 / (30.5 / 31), "days_remaining": 0, "on_track": False,
      "at_alert_threshold": True, "over_budget": True}),
    # No budget (limit 0): nothing remains, always on track, never a flag.
    (0.0, 80, 40.0, datetime(2026, 12, 16, 12, tzinfo=UTC),
     {"remaining_usd": 0.0, "percent_used": 0.0, "projected_monthly": 80.0,
      "days_remaining": 15, "on_track": True, "at_alert_threshold": False,
      "over_budget": False}),
])
def test_figures(limit: float, threshold: int, spent: float, now: datetime,
                 expected: dict) -> None:
    assert _figures(limit, threshold, spent, now) == expected


def test_days_remaining_counts_the_budget_zone_s_calendar_days() -> None:
    # 03:00 UTC on 1 December is still 30 November in New York: the month there is November.
    now = datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert _figures(100.0, 80, 0.0, now, NEW_YORK)["days_remaining"] == 0
    assert _figures(100.0, 80, 0.0, now, UTC_ZONE)["days_remaining"] == 30


def test_a_limit_below_a_nano_dollar_gives_a_finite_percent() -> None:
    percent = _figures(1e-320, 80, 5.0, datetime(2026, 12, 16, tzinfo=UTC))["percent_used"]
    assert percent == 1.7976931348623157e308
