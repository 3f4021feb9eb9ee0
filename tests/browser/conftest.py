"""A live stack for the browser tests: ``costlog api`` over a seeded SQLite file, the session's
redis-server, and Debian's headless Chromium driven by Playwright.

The data (the demo month plus the API tests' edge cases) is written through the real write path;
the API's clock is pinned to the tests' NOW. Chromium missing is a failure, never a skip.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from costlog.cli.demo import demo_events
from costlog.cli.redis_server import RedisServer
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from tests.conftest import NOW
from tests.support.api import EVENTS, seed
from tests.support.browser import launch, live_api

pytestmark = pytest.mark.e2e

TOKEN = "browser-test-token"


@dataclass
class Stack:
    url: str
    db_path: Path


def seeded_db(directory: Path) -> Path:
    path = directory / "costlog.db"
    db = connect(path)
    migrate(db)
    seed(db, EVENTS + demo_events(NOW))
    db.close()
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("dashboard")
    db_path = seeded_db(directory)
    with live_api(db_path, redis_server.url, NOW, directory / "api.log") as url:
        yield Stack(url, db_path)


@pytest.fixture(scope="module")
def token_stack(tmp_path_factory: pytest.TempPathFactory,
                redis_server: RedisServer) -> Iterator[Stack]:
    """The same data behind an API that requires a bearer token for writes."""
    directory = tmp_path_factory.mktemp("dashboard-token")
    db_path = seeded_db(directory)
    with live_api(db_path, redis_server.url, NOW, directory / "api.log",
                  COSTLOG_API_TOKEN=TOKEN) as url:
        yield Stack(url, db_path)


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it lives, which later tests' own event loops (anyio.run) would collide with.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page whose console errors and foreign requests are collected."""

    page: Page
    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def open(self, path: str = "/") -> Page:
        self.page.goto(self.origin + path)
        wait_loaded(self.page, 1)
        return self.page


def wait_loaded(page: Page, loads: int) -> None:
    """Until the page has finished its ``loads``-th load of data (body[data-loads])."""
    page.wait_for_selector(f'body[data-loads="{loads}"]', state="attached", timeout=15_000)


def watch(context: BrowserContext, origin: str) -> Watched:
    watched = Watched(context.new_page(), origin)
    watched.page.on("console", lambda message: watched.errors.append(message.text)
                    if message.type == "error" else None)
    watched.page.on("pageerror", lambda error: watched.errors.append(str(error)))
    watched.page.on("request", lambda request: None if request.url.startswith(origin + "/")
                    else watched.foreign.append(request.url))
    return watched


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    options.setdefault("viewport", {"width": 1280, "height": 900})
    return browser.new_context(locale="en-US", timezone_id="UTC", **options)


@pytest.fixture
def dashboard(browser: Browser, stack: Stack) -> Iterator[Watched]:
    """A desktop-size page on the stack; the test fails on any console error or foreign
    request."""
    context = new_context(browser)
    watched = watch(context, stack.url)
    yield watched
    context.close()
    assert watched.errors == []
    assert watched.foreign == []
