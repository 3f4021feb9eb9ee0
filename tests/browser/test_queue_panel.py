"""The queue panel's unpriced events follow the chosen project."""

import sqlite3

from tests.browser.conftest import Stack, Watched, wait_loaded
from tests.browser.test_dashboard import get, metric


def unpriced(stack: Stack, project: str | None = None) -> int:
    with sqlite3.connect(stack.db_path) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM cost_log WHERE cost_source = 'unpriced'"
            " AND voided_at IS NULL AND (? IS NULL OR project_id = ?)",
            (project, project)).fetchone()[0]


def test_unpriced_events_follow_the_project(dashboard: Watched, stack: Stack) -> None:
    page = dashboard.open("/")
    every = unpriced(stack)
    assert metric(page, "unpriced-events") == f"{every:,}"
    assert every == get(stack, "/healthz")["events"]["unpriced"]
    shown = {}
    loads = 1
    for project in ("alpha", "beta"):
        page.locator('select[name="project"]').select_option(project)
        loads += 1
        wait_loaded(page, loads)
        shown[project] = metric(page, "unpriced-events")
        assert shown[project] == f"{unpriced(stack, project):,}"
    assert unpriced(stack, "alpha") != unpriced(stack, "beta")  # the switch shows a change
