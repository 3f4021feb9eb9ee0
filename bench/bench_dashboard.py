"""The dashboard's weight and first full render, in Debian's headless Chromium.

    python -m bench.bench_dashboard [--db DB] [--rounds 5] [--screenshots DIR]

* Weight: the HTML page and every asset it links, as the server sends them: raw, and gzipped
  (``Accept-Encoding: gzip``).
* First full render: a fresh browser context opens ``/``; the page marks ``costlog:rendered``
  (a Performance mark, milliseconds from navigation start) once every request of its first
  load has answered and every ``[data-metric]`` is filled. Median and worst of ``--rounds``.
* Data: ``--db`` (e.g. the 1M-event database ``bench.bench_import`` leaves, its clock the
  benchmarks' NOW), else the demo month written into a fresh database.
* ``--screenshots DIR`` also writes desktop (1280 px) and phone (360 px) screenshots, light
  and dark, of that data as ``dashboard-{desktop,phone}[-dark].png``.
"""

import argparse
import re
import statistics
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bench.common import NOW, heading, machine
from costlog.cli.demo import demo_events
from costlog.cli.redis_server import RedisServer
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store import orchestrator
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.write import record_events
from tests.support.browser import launch, live_api

ASSET_BUDGET_BYTES = 150 * 1024
RENDER_BUDGET_MS = 1000
#: The demo's budget in the screenshots: enough to show the projection and the alert flag.
DEMO_BUDGET_USD = 1500


def _sent(client: httpx.Client, path: str, encoding: str) -> bytes:
    """The body of ``path`` as the server sends it (not decoded)."""
    with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
        response.raise_for_status()
        return b"".join(response.iter_raw())


def weight(url: str) -> tuple[int, int]:
    """(raw, gzipped) bytes of the dashboard page and every asset it links, as the server at
    ``url`` sends them: without, then with ``Accept-Encoding: gzip``."""
    with httpx.Client(base_url=url) as client:
        page = client.get("/").text
        # Each URL once: the browser fetches the icon it links twice only once.
        paths = list(dict.fromkeys(["/", *re.findall(r'(?:src|href)="(/static/[^"]+)"', page)]))
        return (sum(len(_sent(client, path, "identity")) for path in paths),
                sum(len(_sent(client, path, "gzip")) for path in paths))


def demo_database(directory: Path) -> Path:
    path = directory / "demo.db"
    db = connect(path)
    migrate(db)
    record_events(db, [parse_event(raw, now=NOW) for raw in demo_events(NOW)], PriceTable())
    orchestrator.set_budget(db, "*", DEMO_BUDGET_USD, 80)
    db.close()
    return path


def rendered_ms(browser, url: str, width: int = 1280, scheme: str = "light",
                shot: Path | None = None) -> float:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme,
                                  locale="en-US", timezone_id="UTC",
                                  device_scale_factor=1)
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-loads]", state="attached", timeout=60_000)
        ms = page.evaluate("performance.getEntriesByName('costlog:rendered')[0].startTime")
        if shot is not None:
            page.screenshot(path=str(shot), full_page=True)
        return ms
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()

    heading("dashboard")
    print(f"  {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db_path = args.db or demo_database(work)
        events = connect(db_path).execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]
        redis_server = RedisServer(work / "redis").start()
        try:
            with live_api(db_path, redis_server.url, NOW, work / "api.log") as url, \
                    sync_playwright() as playwright:
                raw, packed = weight(url)
                print(f"  page and assets as served: {raw / 1024:.1f} KB raw,"
                      f" {packed / 1024:.1f} KB gzipped (budget {ASSET_BUDGET_BYTES // 1024} KB"
                      f" gzipped): {'met' if packed <= ASSET_BUDGET_BYTES else 'NOT met'}",
                      flush=True)
                browser = launch(playwright)
                rendered_ms(browser, url)  # warm the API's page cache and the browser
                samples = [rendered_ms(browser, url) for _ in range(args.rounds)]
                print(f"  first full render at {events:,} events: median"
                      f" {statistics.median(samples):.0f} ms, worst {max(samples):.0f} ms over"
                      f" {args.rounds} fresh contexts (budget {RENDER_BUDGET_MS} ms): "
                      f"{'met' if max(samples) <= RENDER_BUDGET_MS else 'NOT met'}", flush=True)
                if args.screenshots:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    for name, width in (("desktop", 1280), ("phone", 360)):
                        for scheme in ("light", "dark"):
                            suffix = "" if scheme == "light" else "-dark"
                            shot = args.screenshots / f"dashboard-{name}{suffix}.png"
                            rendered_ms(browser, url, width, scheme, shot)
                            print(f"  wrote {shot}")
                browser.close()
        finally:
            redis_server.stop()


if __name__ == "__main__":
    main()
