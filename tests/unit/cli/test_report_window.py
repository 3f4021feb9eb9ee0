"""`costlog report` names its window as the API does: --period is the API's (rolling) period,
--since/--until whole calendar days, --all all time; its Total is the API's answer for the
range its title names, in any zone; and its table fits 80 columns without wrapping a cell."""

import io
import json
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from rich.console import Console
from starlette.testclient import TestClient

from costlog.cli import main
from costlog.cli.report import render
from tests.support.api import seed

ZONES = ["UTC", "America/New_York", "Asia/Kolkata"]


def run(db_path: Path, *args: str):
    return CliRunner().invoke(main, ["--db", str(db_path), "report", *args],
                              env={"COSTLOG_PROJECT": "", "COSTLOG_TZ": ""},
                              catch_exceptions=False)


def report_json(db_path: Path, *args: str) -> dict:
    result = run(db_path, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def api_total(client: TestClient, **query: str) -> float:
    response = client.get("/api/cost/breakdown", params=query)
    assert response.status_code == 200, response.text
    return response.json()["total_cost_usd"]


@pytest.mark.parametrize("tz", ZONES)
def test_default_daily_total_is_the_api_answer_for_its_title(client: TestClient,
                                                             db_path: Path, tz: str) -> None:
    report = report_json(db_path, "--tz", tz)
    assert report["title"] == "2026-10-22 to 2026-11-20, the last 30 days"
    assert report["total"]["cost_usd"] == pytest.approx(
        api_total(client, start="2026-10-22", end="2026-11-20", tz=tz), abs=1e-9)
    text = run(db_path, "--tz", tz).output
    assert f"costlog daily report: 2026-10-22 to 2026-11-20, the last 30 days ({tz})" in \
        " ".join(text.split())


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("period", ["24h", "7d", "30d", "month", "last-month", "all"])
@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly", "models", "projects"])
def test_period_is_the_api_period(client: TestClient, db_path: Path, kind: str, period: str,
                                  tz: str) -> None:
    report = report_json(db_path, kind, "--period", period, "--tz", tz)
    assert report["total"]["cost_usd"] == pytest.approx(
        api_total(client, period=period, tz=tz), abs=1e-9)


def test_a_rolling_period_cuts_its_first_day_and_says_so(client: TestClient,
                                                          db_path: Path) -> None:
    # 30 x 24 h before 2026-11-20 12:00Z is 2026-10-21 08:00 in New York; the event at
    # exactly that instant is in, the day's earlier hours are not.
    report = report_json(db_path, "--period", "30d", "--tz", "America/New_York")
    assert report["title"] == "last 30 days (from 2026-10-21 08:00)"
    first = report["rows"][0]
    assert first["key"] == "2026-10-21"
    assert first["partial"] == ["2026-10-21T08:00:00-04:00", "2026-10-21T23:59:59-04:00"]
    assert first["cost_usd"] == pytest.approx(0.2, abs=1e-9)
    assert all("partial" not in row for row in report["rows"][1:])
    text = " ".join(run(db_path, "--period", "30d", "--tz", "America/New_York").output.split())
    assert "2026-10-21*" in text
    assert "2026-10-21* holds 2026-10-21 08:00 to 2026-10-21 23:59:59 only" in text


@pytest.mark.parametrize(("kind", "since", "until"), [
    ("weekly", "2026-11-20", "2026-11-20"),  # a Friday: the week's first days are not in
    ("monthly", "2026-11-10", "2026-11-19"),
    ("weekly", "2026-09-16", "2026-11-18"),
])
@pytest.mark.parametrize("tz", ZONES)
def test_calendar_days_cut_weeks_and_months(client: TestClient, db_path: Path, kind: str,
                                            since: str, until: str, tz: str) -> None:
    report = report_json(db_path, kind, "--since", since, "--until", until, "--tz", tz)
    assert report["title"] == f"{since} to {until}"
    assert report["total"]["cost_usd"] == pytest.approx(
        api_total(client, start=since, end=until, tz=tz), abs=1e-9)


@pytest.mark.parametrize("kind", ["weekly", "monthly"])
def test_default_weeks_and_months_are_whole(client: TestClient, db_path: Path,
                                            kind: str) -> None:
    report = report_json(db_path, kind, "--tz", "America/New_York")
    first = {"weekly": "2026-08-31", "monthly": "2025-12-01"}[kind]
    assert report["title"] == (
        f"{first} to 2026-11-20, the last 12 {'weeks' if kind == 'weekly' else 'months'}")
    assert report["total"]["cost_usd"] == pytest.approx(
        api_total(client, start=first, end="2026-11-20", tz="America/New_York"), abs=1e-9)


@pytest.mark.parametrize("kind", ["daily", "models"])
def test_all_shows_all_time(client: TestClient, db_path: Path, kind: str) -> None:
    report = report_json(db_path, kind, "--all")
    assert report["title"] == "all time"
    assert report["total"]["cost_usd"] == pytest.approx(api_total(client, period="all"),
                                                        abs=1e-9)
    if kind == "daily":
        assert report["rows"][0]["key"] == "2026-09-15"  # the first event's day
    assert "costlog models report: all time (UTC)" in run(db_path, "models").output


def test_window_errors(seeded: sqlite_utils.Database, db_path: Path) -> None:
    bad = run(db_path, "daily", "--since", "2026-11-20", "--until", "2026-11-01")
    assert bad.exit_code == 2
    assert "Error: invalid range: --since is after --until" in bad.output
    for args in (["--period", "7d", "--since", "2026-11-01"], ["--all", "--period", "7d"],
                 ["--all", "--until", "2026-11-01"]):
        result = run(db_path, *args)
        assert result.exit_code == 2
        assert "invalid range: use one of --period, --all, or --since/--until" in result.output
    assert "'8d' is not one of '24h', '7d', '30d', 'month', 'last-month', 'all'" in run(
        db_path, "--period", "8d").output


def table(result: dict, *, width: int, kind: str) -> str:
    out = io.StringIO()
    render(kind, result, Console(file=out, width=width), tz="America/New_York")
    return out.getvalue()


def test_at_80_columns_no_cell_wraps(db: sqlite_utils.Database, db_path: Path) -> None:
    families = ["claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5",
                "gemini-2.5-pro", "claude-3-haiku", ""]
    long_name = "payments-backend-service-with-a-long-name"
    seed(db, [{"project_id": project, "task_id": "T-1", "phase": "implement", "model": model,
               "cost_usd": 1.5, "input_tokens": 65_432, "output_tokens": 1_234,
               "cache_read_tokens": 5_000, "timestamp": f"2026-11-{day:02d}T15:00:00Z"}
              for day in (18, 19, 20) for model in families
              for project in ("web", long_name)])
    daily = report_json(db_path, "daily", "--since", "2026-11-18")
    assert [row["key"] for row in daily["rows"]] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    text = table(daily, width=80, kind="daily")
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    day_lines = [line for line in lines if line.lstrip().startswith("2026-11-")]
    assert len(day_lines) == 3  # one line per day: the models cell did not wrap
    models = daily["rows"][0]["models"]
    assert len(models) == 4
    # As many whole names as fit, then how many more: never a name cut.
    assert all(f"   {models[0]} +3   " in line for line in day_lines)
    assert "gemini, gpt" not in text
    projects = report_json(db_path, "projects")
    assert [row["key"] for row in projects["rows"]] == [long_name, "web"]  # in full
    text = table(projects, width=80, kind="projects")
    assert max(map(len, text.splitlines())) <= 80
    cut = [line for line in text.splitlines() if line.lstrip().startswith("payments-")]
    assert len(cut) == 1
    shown = cut[0].split()[0]
    head, tail = shown.split("…")
    assert long_name.startswith(head) and long_name.endswith(tail) and len(tail) >= 3
    total = projects["total"]["input_tokens"]
    assert total > 10**6
    # Counts shortened to fit, in the dashboard's format (6.8M, 409.8K).
    assert f" {total / 10**6:.1f}M " in text and f"{total:,}" not in text


def test_a_cost_under_a_cent_is_not_zero(db: sqlite_utils.Database, db_path: Path) -> None:
    seed(db, [{"project_id": "web", "task_id": "T-1", "phase": "spec", "model": "claude-opus-4-5",
               "cost_usd": 0.0035, "input_tokens": 10, "timestamp": "2026-11-20T10:00:00Z"}])
    text = run(db_path, "models").output
    assert "<$0.01" in text and "$0.00" not in text
    assert report_json(db_path, "models")["total"]["cost_usd"] == 0.0035
