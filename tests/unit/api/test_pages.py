"""The dashboard's pages and assets as the API serves them (no browser here)."""

import re
from pathlib import Path

import pytest
import sqlite_utils

from api.pages import PAGES, STATIC
from tests.support.api import client_for, settings_for

HOOKS = [
    '[data-metric="month-spend"]', '[data-metric="budget-percent"]',
    '[data-metric="period-total"]', '[data-chart="timeseries"]', '[data-table="by-model"]',
    '[data-table="by-phase"]', '[data-table="top-tasks"]', '[data-table="top-initiatives"]',
    'select[name="project"]', '[data-period="24h"]', '[data-period="7d"]', '[data-period="30d"]',
    '[data-period="month"]', '[data-period="all"]', 'form[data-form="budget"]',
    'input[name="monthly_limit_usd"]', 'input[name="alert_threshold_percent"]',
    '[data-status="queue"]',
]


@pytest.fixture
def client(db: sqlite_utils.Database, db_path: Path, tmp_path: Path):
    with client_for(settings_for(db_path, tmp_path)) as test_client:
        yield test_client


def present(html: str, hook: str) -> bool:
    """A CSS hook of the form ``tag[attr="value"]`` or ``[attr="value"]`` in the markup."""
    tag, attr, value = re.fullmatch(r'(\w*)\[([\w-]+)="([^"]+)"\]', hook).groups()
    return re.search(rf'<{tag or "[a-z]+"}\b[^>]*\b{attr}="{re.escape(value)}"', html) is not None


def test_the_dashboard_page_has_every_hook_and_stays_on_its_origin(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"].startswith("default-src 'self';")
    html = response.text
    assert [hook for hook in HOOKS if not present(html, hook)] == []
    # The page runs on the server's clock (pinned in tests), not the browser's.
    assert '<meta name="costlog-now" content="2026-11-20T12:00:00Z">' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


@pytest.mark.parametrize("initiative", ["INIT-A", "team%2Fq4", "nobody"])
def test_an_initiative_page_is_served_for_any_id(client, initiative: str) -> None:
    response = client.get(f"/initiatives/{initiative}")
    assert response.status_code == 200
    assert present(response.text, '[data-metric="initiative-total"]')


@pytest.mark.parametrize(("path", "media_type"), [
    ("/favicon.ico", "image/svg+xml"), ("/static/favicon.svg", "image/svg+xml"),
    ("/static/app.js", "text/javascript; charset=utf-8"),
    ("/static/app.css", "text/css; charset=utf-8"),
])
def test_assets_and_the_favicon_are_served(client, path: str, media_type: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


def test_assets_name_no_other_origin() -> None:
    for asset in STATIC.iterdir():
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", asset.read_text()), asset


def test_pages_are_not_in_the_openapi_document(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {page.path for page in PAGES} & set(paths)
    assert not [path for path in paths if path.startswith(("/static", "/favicon"))]


def test_a_missing_asset_is_a_404(client) -> None:
    assert client.get("/static/missing.js").status_code == 404
