"""The dashboard's chart covers exactly its card's period, and its figures read as the
report's: the legend sums to the card to the cent, cut bars are labelled, one number format."""

import re
from datetime import datetime, timedelta

import pytest

from costlog.domain import figures
from tests.browser.conftest import Stack, Watched
from tests.browser.test_dashboard import TZ, get, money
from tests.conftest import NOW

#: (period, bars, first bar cut): NOW is 2026-11-20 12:00Z, on the hour.
PERIODS = [("7d", 8, True), ("30d", 31, True), ("24h", 25, False), ("month", 20, False)]


def legend(page) -> dict[str, str]:
    items = page.locator('[data-chart="timeseries"] .legend li').all_inner_texts()
    return dict(re.fullmatch(r"\s*(\S+)\s+(\S+)\s*", text).groups() for text in items)


@pytest.mark.parametrize(("period", "bars", "cut"), PERIODS)
def test_the_legend_sums_to_the_card(dashboard: Watched, stack: Stack, period: str, bars: int,
                                     cut: bool) -> None:
    page = dashboard.open(f"/?period={period}")
    card = get(stack, "/api/cost/breakdown", by="model", period=period, tz=TZ)
    assert page.locator('[data-metric="period-total"]').inner_text() == money(
        card["total_cost_usd"])
    assert legend(page) == {key: money(entry["cost"])
                            for key, entry in card["breakdown"].items() if entry["cost"] > 0}
    chart = page.locator('[data-chart="timeseries"]')
    assert chart.locator("svg").get_attribute("aria-label").startswith(
        f"Spend per {'hour' if period == '24h' else 'day'}: {money(card['total_cost_usd'])}"
        f" in {bars} bars")
    assert chart.locator("g.bar").count() == bars
    first = chart.locator("g.bar").first
    if cut:
        # The first bar holds only the period's part of its day, from the API's breakdown.
        start = datetime.fromisoformat(card["start"])
        assert first.get_attribute("data-from") == card["start"]
        next_day = (start + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        part = get(stack, "/api/cost/breakdown", by="model", tz=TZ, start=card["start"],
                   end=(next_day - timedelta(seconds=1)).isoformat())
        title = first.locator("title").text_content()
        assert title.startswith(f"{start:%b} {start.day}, {start.year} from 12:00:"
                                f" {money(part['total_cost_usd'])}")
        assert "Partial bars: " in page.locator('[data-field="chart-note"]').inner_text()
    else:
        assert first.get_attribute("data-from") is None
    last = chart.locator("g.bar").last
    if period == "month":  # to date: drawn up to the page's now (the server's, running on)
        to = datetime.fromisoformat(last.get_attribute("data-to"))
        assert timedelta(0) <= to - NOW < timedelta(minutes=1)
    else:
        assert last.get_attribute("data-to") == card["end"]
    assert " to 12:00: " in last.locator("title").text_content()


def test_one_number_format(dashboard: Watched, stack: Stack) -> None:
    page = dashboard.open("/?period=all")
    cells = page.locator('[data-table="by-model"] td.tok[data-value]:not([data-value=""])')
    pairs = cells.evaluate_all("tds => tds.map(td => [Number(td.dataset.value), td.textContent])")
    assert pairs and any(value >= 1000 for value, _ in pairs)
    for value, text in pairs:
        assert text == figures.compact(value)  # 409.8K, 6.8M: costlog report's format
    for period in ("all", "24h", "7d"):
        page = dashboard.open(f"/?period={period}")
        labels = page.locator('[data-chart="timeseries"] text.axis.y').evaluate_all(
            "nodes => nodes.map(node => node.textContent)")
        assert labels[0] in ("$0", "$0.00", "$0.0")
        decimals = {len(label.partition(".")[2].rstrip("KMB")) for label in labels}
        assert len(decimals) == 1, labels  # every tick with the same decimals
