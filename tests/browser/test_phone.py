"""The dashboard and an initiative's page on a phone (390 px): names wrap instead of being cut,
wide tables are keyboard-focusable scroll regions (axe-core's scrollable-region-focusable),
and the period buttons fit one line."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser

from costlog.store.connection import connect
from tests.browser.conftest import Stack, new_context, watch

PHONE = {"width": 390, "height": 844}
LONG_TASK = "refactor-the-payment-reconciliation-pipeline-for-multi-currency-ledgers"
LONG_INITIATIVE = "INIT-quarterly-platform-reliability-and-observability-programme"


@pytest.fixture(scope="module")
def long_names(stack: Stack) -> Stack:
    """A task and an initiative whose names are far wider than a phone."""
    from tests.support.api import seed

    db = connect(stack.db_path)
    seed(db, [{"project_id": "alpha", "task_id": LONG_TASK, "phase": "implement",
               "model": "claude-opus-4-5", "cost_usd": 250.0, "input_tokens": 10,
               "initiative_id": LONG_INITIATIVE, "timestamp": "2026-11-20T09:00:00Z"}])
    db.close()
    return stack


@pytest.mark.parametrize("path", ["/", f"/initiatives/{LONG_INITIATIVE}"])
def test_at_390_px(browser: Browser, long_names: Stack, path: str) -> None:
    context = new_context(browser, viewport=PHONE)
    watched = watch(context, long_names.url)
    page = watched.open(path)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Names wrap: every row heading shows its whole text, none is cut with an ellipsis.
    cut = page.locator("tbody th").evaluate_all(
        "ths => ths.filter(th => th.scrollWidth > th.clientWidth"
        " || getComputedStyle(th).textOverflow === 'ellipsis').map(th => th.textContent)")
    assert cut == []
    shown = page.locator("tbody th").all_inner_texts()
    long_name = LONG_TASK if path != "/" else LONG_INITIATIVE
    assert long_name in shown

    # Every scroll wrapper is a named, focusable region; axe finds nothing to report.
    wraps = page.locator(".table-wrap").evaluate_all(
        "ws => ws.map(w => [w.tabIndex, w.getAttribute('role'), w.getAttribute('aria-label')])")
    assert wraps and all(tab == 0 and role == "region" and name.endswith(" table")
                         for tab, role, name in wraps)
    scrolls = page.locator(".table-wrap").evaluate_all(
        "ws => ws.filter(w => w.scrollWidth > w.clientWidth).length")
    assert scrolls > 0  # the wide tables do scroll at this width
    results = Axe().run(page)
    assert [v["id"] for v in results.response["violations"]] == []

    # The period buttons fit one line.
    tops = page.locator("[data-period]").evaluate_all(
        "bs => bs.map(b => Math.round(b.getBoundingClientRect().top))")
    assert len(tops) == 6 and len(set(tops)) == 1
    right = page.locator(".periods").evaluate("p => p.getBoundingClientRect().right")
    assert right <= PHONE["width"]
    context.close()
    assert watched.errors == [] and watched.foreign == []
