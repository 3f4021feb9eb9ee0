"""The initiative page's period control, and an address with a bad time zone or period: one
clear message, the default view, every panel filled and no page error."""

from urllib.parse import quote

import pytest

from tests.browser.conftest import Stack, Watched, wait_loaded
from tests.browser.test_dashboard import TZ, get, metric, money


def test_the_initiative_page_has_the_period_control(dashboard: Watched, stack: Stack) -> None:
    page = dashboard.open("/initiatives/INIT-A")
    every = get(stack, "/api/initiatives/INIT-A/cost", tz=TZ)
    assert metric(page, "initiative-total") == money(every["total_cost_usd"])
    assert page.locator('[data-period="all"]').get_attribute("aria-pressed") == "true"
    assert page.locator('[data-field="period-label"]').inner_text() == "all time"
    loads = 1
    for name, period in (("7 days", "7d"), ("24 h", "24h"), ("30 days", "30d")):
        page.get_by_role("button", name=name, exact=True).click()
        loads += 1
        wait_loaded(page, loads)
        body = get(stack, "/api/initiatives/INIT-A/cost", period=period, tz=TZ)
        assert metric(page, "initiative-total") == money(body["total_cost_usd"])
        assert metric(page, "initiative-tokens") == f"{body['total_tokens']:,}"
        assert f"period={period}" in page.url
        keys = page.locator('[data-table="by-task"] tbody tr[data-key]').evaluate_all(
            "trs => trs.map(tr => tr.dataset.key)")
        assert keys == [f"{t['project_id']}/{t['task_id']}" for t in body["by_task"]]
    week = get(stack, "/api/initiatives/INIT-A/cost", period="7d", tz=TZ)
    assert week["total_cost_usd"] != every["total_cost_usd"]  # the control changes the figures


BAD = [
    ("tz=Mars/Base", "The address has an unknown time zone “Mars/Base”"),
    ("period=8d", "The address has an unknown period “8d”"),
    ("tz=Not/AZone&period=bogus",
     "The address has an unknown time zone “Not/AZone” and an unknown period “bogus”"),
    ("period=custom&start=2026-11-20&end=2026-11-01",
     "The address has an invalid custom dates “2026-11-20” to “2026-11-01”"),
]


@pytest.mark.parametrize(("path", "default"), [("/", "last 30 days"),
                                               ("/initiatives/INIT-A", "all time")])
@pytest.mark.parametrize(("bad", "message"), BAD)
def test_a_bad_address_falls_back_to_the_default(dashboard: Watched, stack: Stack, path: str,
                                                 default: str, bad: str, message: str) -> None:
    page = dashboard.open(f"{path}?{bad}")
    notice = page.locator('[data-field="url-notice"]')
    assert notice.is_visible()
    assert notice.inner_text() == f"{message}: showing {default} in {TZ} instead."
    assert notice.get_attribute("role") == "alert"
    assert page.locator('[role="alert"]:visible').count() == 1  # one message
    # Every panel loaded in the default view; the address now says that view.
    text = page.locator("main").inner_text()
    assert "Not available" not in text
    assert page.locator('[data-metric]').evaluate_all(
        "nodes => nodes.filter(n => n.textContent.trim() === '…').length") == 0
    assert page.url == f"{stack.url}{path}?tz={TZ}"
    if path == "/":
        card = get(stack, "/api/cost/breakdown", period="30d", tz=TZ)
        assert metric(page, "period-total") == money(card["total_cost_usd"])
    else:
        body = get(stack, f"/api/initiatives/{quote('INIT-A')}/cost", tz=TZ)
        assert metric(page, "initiative-total") == money(body["total_cost_usd"])
    # The dashboard fixture fails the test on any console error or uncaught page error.


def test_a_good_address_shows_no_message(dashboard: Watched) -> None:
    page = dashboard.open("/?period=7d&tz=America/New_York")
    assert not page.locator('[data-field="url-notice"]').is_visible()
    assert page.url.endswith("/?period=7d&tz=America%2FNew_York")
