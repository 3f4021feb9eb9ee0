"""The dashboard in headless Chromium against a live API: what it shows equals the API."""

import json
import sqlite3
import urllib.request
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import TOKEN, Stack, Watched, new_context, wait_loaded, watch
from tests.conftest import NOW

pytestmark = pytest.mark.e2e

TZ = "UTC"  # the browser contexts' zone, so the page's default


def money(value: float) -> str:
    """The page's money format, rounding half away from zero as Intl.NumberFormat does."""
    if 0 < value < 0.01:
        return "<$0.01"
    cents = Decimal(abs(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{'-' if value < 0 else ''}${cents:,.2f}"


def pct(value: float) -> str:
    return f"{Decimal(value).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def get(stack: Stack, path: str, **params: Any) -> Any:
    query = urlencode({key: value for key, value in params.items() if value is not None})
    with urllib.request.urlopen(f"{stack.url}{path}?{query}", timeout=10) as response:
        return json.loads(response.read())


def rfc3339(delta: timedelta) -> str:
    return (NOW - delta).isoformat().replace("+00:00", "Z")


def metric(page: Page, name: str) -> str:
    return page.locator(f'[data-metric="{name}"]').first.inner_text().strip()


def rows(page: Page, table: str, selector: str = "tr[data-key]") -> list[list[str]]:
    """[key, cell texts…] of each row; token cells give their exact value (data-value)."""
    return page.locator(f'[data-table="{table}"] tbody {selector}').evaluate_all(
        "trs => trs.map(tr => [tr.dataset.key ?? '', ...Array.from(tr.cells).slice(1).map("
        "c => c.classList.contains('tok') && c.dataset.value ? c.dataset.value"
        " : c.textContent.trim())])")


def expected_rows(body: dict[str, Any], token_kinds: bool) -> list[list[str]]:
    expected = []
    for key, entry in body["breakdown"].items():
        row = [key, money(entry["cost"]), pct(entry["percent"])]
        kinds = (("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
                 if token_kinds else ("tokens",))
        row += [str(entry[kind]) if kind in entry else "—" for kind in kinds]
        expected.append(row)
    return expected


def sql_cost(stack: Stack, where: str, params: tuple[Any, ...] = ()) -> float:
    """Independent of the API: a plain sum over cost_log."""
    with sqlite3.connect(stack.db_path) as conn:
        return conn.execute(f"SELECT COALESCE(SUM(cost_usd), 0) FROM cost_log WHERE {where}",
                            params).fetchone()[0]


def assert_period(page: Page, stack: Stack, period: str, project: str | None = None) -> None:
    body = get(stack, "/api/cost/breakdown", by="model", period=period, project=project, tz=TZ)
    assert metric(page, "period-total") == money(body["total_cost_usd"])
    assert rows(page, "by-model") == expected_rows(body, token_kinds=True)
    phases = get(stack, "/api/cost/breakdown", by="phase", period=period, project=project, tz=TZ)
    assert rows(page, "by-phase") == expected_rows(phases, token_kinds=True)


def test_every_figure_equals_the_api(dashboard: Watched, stack: Stack) -> None:
    page = dashboard.open("/")

    budget = get(stack, "/api/cost/budget")
    assert metric(page, "month-spend") == money(budget["current_spent_usd"])
    assert metric(page, "budget-percent") == (pct(budget["percent_used"])
                                              if budget["monthly_limit_usd"] > 0 else "No budget")
    assert metric(page, "projected") == money(budget["projected_monthly"])
    assert metric(page, "days-left") == str(budget["days_remaining"])

    assert_period(page, stack, "30d")
    total = get(stack, "/api/cost/breakdown", period="30d", tz=TZ)["total_cost_usd"]
    since = (NOW - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert money(total) == money(sql_cost(stack, "timestamp >= ?", (since,)))
    previous = get(stack, "/api/cost/breakdown", start=rfc3339(timedelta(days=60)),
                   end=rfc3339(timedelta(days=30)), tz=TZ)
    assert metric(page, "previous-total") == money(previous["total_cost_usd"])

    tasks = get(stack, "/api/cost/breakdown", by="task", period="30d", limit=10, tz=TZ)
    assert rows(page, "top-tasks") == expected_rows(tasks, token_kinds=False)
    other = rows(page, "top-tasks", "tr[data-other]")
    assert other == [["", money(tasks["other"]["cost"]), pct(tasks["other"]["percent"]),
                      str(tasks["other"]["tokens"])]]
    assert other[0] and f"{tasks['other']['count']} more" in page.locator(
        '[data-table="top-tasks"] tr[data-other]').inner_text()
    initiatives = get(stack, "/api/cost/breakdown", by="initiative", period="30d", limit=10,
                      tz=TZ)
    assert rows(page, "top-initiatives") == expected_rows(initiatives, token_kinds=False)
    links = page.locator('[data-table="top-initiatives"] tr[data-key] a')
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        f"/initiatives/{quote(key, safe='')}?tz={TZ}" for key in initiatives["breakdown"]]

    health = get(stack, "/healthz")
    assert metric(page, "queue-depth") == f"{health['queue']['depth']:,}"
    assert metric(page, "failed-jobs") == f"{health['queue']['failed_jobs']:,}"
    with sqlite3.connect(stack.db_path) as conn:
        unpriced = conn.execute(
            "SELECT COUNT(*) FROM cost_log WHERE cost_source = 'unpriced'").fetchone()[0]
    assert unpriced > 0 and health["events"]["unpriced"] == unpriced
    assert metric(page, "unpriced-events") == f"{unpriced:,}"

    series = get(stack, "/api/cost/timeseries", granularity="day", by="model", tz=TZ,
                 start=rfc3339(timedelta(days=30)), end=rfc3339(timedelta(0)))["series"]
    chart = page.locator('[data-chart="timeseries"]')
    assert chart.locator("g.bar").count() == len(series) == 31  # the first and last cut
    label = chart.locator("svg").get_attribute("aria-label")
    assert label.startswith(f"Spend per day: {money(total)}")
    families = {key for point in series for key in point.get("breakdown", {})}
    assert {"opus", "sonnet", "haiku"} <= families
    for family in families & {"opus", "sonnet", "haiku"}:
        assert chart.locator(f"rect.f-{family}").count() > 0


def test_period_and_project_switches_update_the_figures(dashboard: Watched,
                                                        stack: Stack) -> None:
    page = dashboard.open("/")
    loads = 1
    for name, period in (("7 days", "7d"), ("24 h", "24h"), ("Month", "month"), ("All", "all")):
        page.get_by_role("button", name=name, exact=True).click()
        loads += 1
        wait_loaded(page, loads)
        assert page.locator(f'[data-period="{period}"]').get_attribute("aria-pressed") == "true"
        assert f"period={period}" in page.url
        assert_period(page, stack, period)
    page.get_by_role("button", name="Custom", exact=True).click()  # the last 7 days in tz
    loads += 1
    wait_loaded(page, loads)
    assert "period=custom&start=2026-11-14&end=2026-11-20" in page.url
    custom = get(stack, "/api/cost/breakdown", start="2026-11-14", end="2026-11-20", tz=TZ)
    assert metric(page, "period-total") == money(custom["total_cost_usd"])
    assert page.locator('[data-chart="timeseries"] g.bar').count() == 7
    hours = get(stack, "/api/cost/timeseries", granularity="hour", tz=TZ,
                start=rfc3339(timedelta(hours=24)), end=rfc3339(timedelta(0)))["series"]
    assert len(hours) == 25  # NOW is on the hour: both end buckets are whole hours

    page.get_by_role("button", name="Month", exact=True).click()
    page.locator('select[name="project"]').select_option("alpha")
    wait_loaded(page, loads + 2)
    assert "project=alpha" in page.url
    assert_period(page, stack, "month", project="alpha")
    budget = get(stack, "/api/cost/budget", project="alpha")
    assert metric(page, "month-spend") == money(budget["current_spent_usd"])
    alpha_month = sql_cost(stack, "project_id = 'alpha' AND timestamp >= '2026-11-01'")
    assert metric(page, "period-total") == money(alpha_month)

    # The URL is the view: opening it again shows the same figures and controls.
    shown = metric(page, "period-total")
    again = dashboard.page.context.new_page()
    again.goto(page.url)
    wait_loaded(again, 1)
    assert metric(again, "period-total") == shown
    assert again.locator('select[name="project"]').input_value() == "alpha"
    assert again.locator('[data-period="month"]').get_attribute("aria-pressed") == "true"
    again.close()


def test_the_budget_form_round_trips(dashboard: Watched, stack: Stack) -> None:
    page = dashboard.open("/?project=beta")
    form = page.locator('form[data-form="budget"]')
    form.get_by_label("Limit (USD, 0 = none)").fill("1234.5")
    form.get_by_label("Alert at (%)").fill("70")
    form.get_by_label("Budget time zone").select_option("America/New_York")
    form.get_by_label("Hard limit: stop new tasks when over").check()
    form.get_by_role("button", name="Save budget").click()
    page.wait_for_selector('[data-field="form-status"][data-kind="ok"]')
    wait_loaded(page, 2)

    budget = get(stack, "/api/cost/budget", project="beta")
    assert (budget["monthly_limit_usd"], budget["alert_threshold_percent"]) == (1234.5, 70)
    if "hard_limit" in budget:  # budgets with a time zone and a hard limit
        assert (budget["timezone"], budget["hard_limit"]) == ("America/New_York", True)
    assert metric(page, "budget-percent") == pct(budget["percent_used"])
    assert metric(page, "month-spend") == money(budget["current_spent_usd"])
    assert metric(page, "remaining") == money(budget["remaining_usd"])

    fresh = dashboard.page.context.new_page()
    fresh.goto(f"{stack.url}/?project=beta")
    wait_loaded(fresh, 1)
    assert fresh.locator('input[name="monthly_limit_usd"]').input_value() == "1234.5"
    assert fresh.locator('input[name="alert_threshold_percent"]').input_value() == "70"
    assert metric(fresh, "budget-percent") == pct(budget["percent_used"])
    fresh.close()


def test_an_initiative_link_opens_its_page(dashboard: Watched, stack: Stack) -> None:
    page = dashboard.open("/?period=all")
    link = page.locator('[data-table="top-initiatives"] tr[data-key] a').first
    initiative = link.inner_text()
    link.click()
    page.wait_for_url(f"**/initiatives/{quote(initiative, safe='')}?tz={TZ}")
    wait_loaded(page, 1)
    body = get(stack, f"/api/initiatives/{quote(initiative, safe='')}/cost", tz=TZ)
    assert metric(page, "initiative-total") == money(body["total_cost_usd"])
    assert metric(page, "initiative-total") == money(
        sql_cost(stack, "initiative_id = ?", (initiative,)))
    assert metric(page, "initiative-tokens") == f"{body['total_tokens']:,}"
    keys = [row[0] for row in rows(page, "by-task")]
    assert keys == [f"{t['project_id']}/{t['task_id']}" if t.get("project_id") else t["task_id"]
                    for t in body["by_task"]]
    assert [row[:2] for row in rows(page, "by-model")] == [
        [key, money(cost)] for key, cost in sorted(body["by_model"].items(),
                                                   key=lambda item: -item[1])]
    page.get_by_role("link", name="← Dashboard").click()
    page.wait_for_url(f"{stack.url}/?tz={TZ}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["/", "/initiatives/INIT-A"])
def test_no_horizontal_scroll_at_360_px(browser: Browser, stack: Stack, scheme: str,
                                        path: str) -> None:
    context = new_context(browser, viewport={"width": 360, "height": 800}, color_scheme=scheme)
    watched = watch(context, stack.url)
    page = watched.open(path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()
    assert watched.errors == [] and watched.foreign == []


def test_the_form_asks_for_the_token_when_the_api_answers_401(browser: Browser,
                                                              token_stack: Stack) -> None:
    context = new_context(browser)
    watched = watch(context, token_stack.url)
    page = watched.open("/")
    form = page.locator('form[data-form="budget"]')
    token = form.get_by_label("API token")
    assert not token.is_visible()
    form.get_by_label("Limit (USD, 0 = none)").fill("99")
    form.get_by_role("button", name="Save budget").click()
    token.wait_for(state="visible")
    assert "API token" in page.locator('[data-field="form-status"]').inner_text()
    assert get(token_stack, "/api/cost/budget")["monthly_limit_usd"] == 0

    token.fill("wrong")
    form.get_by_role("button", name="Save budget").click()
    page.locator('[data-field="form-status"][data-kind="error"]').wait_for()
    token.wait_for(state="visible")
    token.fill(TOKEN)
    form.get_by_role("button", name="Save budget").click()
    page.wait_for_selector('[data-field="form-status"][data-kind="ok"]')
    assert get(token_stack, "/api/cost/budget")["monthly_limit_usd"] == 99
    assert not token.is_visible()
    context.close()
    # The browser logs each refused PUT; nothing else.
    assert watched.errors and all("401" in error for error in watched.errors), watched.errors
    assert watched.foreign == []



def test_the_controls_work_from_the_keyboard(dashboard: Watched) -> None:
    page = dashboard.open("/")
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.getAttribute('name')"
                                     " || document.activeElement.textContent.trim()"))
        if focused[-1] == "7 days":
            break
    assert focused[:4] == ["Skip to content", "costlog", "project", "tz"]
    page.keyboard.press("Enter")
    wait_loaded(page, 2)
    assert page.locator('[data-period="7d"]').get_attribute("aria-pressed") == "true"
