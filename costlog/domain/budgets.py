"""A month's spend against a budget, in figures: the arithmetic of a budget status.

Pure: the caller gives the month's bounds (a calendar month in the budget's zone), the spend
already summed and the instant it asks at.
"""

import sys
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: The shortest elapsed time a projection divides by: on the 1st, one day, so an early
#: request's spend is not multiplied by thousands.
MIN_ELAPSED_SECONDS = 86400.0


def figures(*, limit: float, threshold: int, spent: float, month_start: datetime,
            month_end: datetime, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """remaining, percent used, the linear projection to the month's end, whole days left,
    and the three flags; a limit of 0 is no budget (nothing remains, it is always on track)."""
    month_seconds = (month_end - month_start).total_seconds()
    elapsed = max((now - month_start).total_seconds(), MIN_ELAPSED_SECONDS)
    projected = spent / min(elapsed / month_seconds, 1.0)
    last_day = (month_end - timedelta(days=1)).astimezone(tz).date()
    has_budget = limit > 0
    # A limit below a nano-USD (the API refuses it; an old row may hold one) must not
    # overflow to Infinity, which JSON cannot carry.
    percent = min(spent / limit * 100, sys.float_info.max) if has_budget else 0.0
    return {
        "remaining_usd": limit - spent if has_budget else 0.0,
        "percent_used": percent,
        "projected_monthly": projected,
        "days_remaining": (last_day - now.astimezone(tz).date()).days,
        "on_track": projected <= limit if has_budget else True,
        "at_alert_threshold": has_budget and percent >= threshold,
        "over_budget": has_budget and spent > limit,
    }
