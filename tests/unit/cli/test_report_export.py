"""`costlog report` and `costlog export` in process: the API's figures and bytes, and the
report's figures against SQL over cost_log."""

import io
import json
import re
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from rich.console import Console
from starlette.testclient import TestClient

from costlog.cli import main
from costlog.cli.report import render
from tests.support.api import NANOS, TOKENS, usd

KINDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
BREAKDOWNS = {"models": "model", "phases": "phase", "tasks": "task",
              "initiatives": "initiative", "projects": "project"}
TIMES = {"daily": "day", "weekly": "week", "monthly": "month"}


def run(db_path: Path, *args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(main, ["--db", str(db_path), *args],
                                env={"COSTLOG_PROJECT": "", "COSTLOG_TZ": ""} | (env or {}),
                                catch_exceptions=False)
    return result


def report_json(db_path: Path, *args: str) -> dict:
    result = run(db_path, "report", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("kind", list(BREAKDOWNS))
def test_breakdown_reports_equal_the_api(client: TestClient, db_path: Path, kind: str,
                                         tz: str) -> None:
    for args, query in (
            ([], {}),
            (["--since", "2026-11-01", "--until", "2026-11-19"],
             {"start": "2026-11-01", "end": "2026-11-19"}),
            (["--since", "2026-11-10", "--project", "alpha", "--limit", "2"],
             {"start": "2026-11-10", "project": "alpha", "limit": "2"})):
        body = client.get("/api/cost/breakdown",
                          params={"by": BREAKDOWNS[kind], "tz": tz} | query).json()
        report = report_json(db_path, kind, "--tz", tz, *args)
        shown = [row for row in report["rows"] if not row["key"].endswith(" more)")]
        assert [row["key"] for row in shown] == list(body["breakdown"])
        for row in shown:
            entry = body["breakdown"][row["key"]]
            assert row["cost_usd"] == entry["cost"]
            assert row["total_tokens"] == entry["tokens"]
            assert [row[k] for k in KINDS] == [entry[k] for k in KINDS]
        assert report["total"]["cost_usd"] == body["total_cost_usd"]
        if body.get("other", {}).get("count"):
            assert report["rows"][-1]["key"] == f"({body['other']['count']} more)"
            assert report["rows"][-1]["cost_usd"] == body["other"]["cost"]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
@pytest.mark.parametrize("kind", list(TIMES))
def test_time_reports_equal_the_api(client: TestClient, db_path: Path, kind: str,
                                    tz: str) -> None:
    body = client.get("/api/cost/timeseries", params={
        "granularity": TIMES[kind], "start": "2026-09-01", "end": "2026-11-20", "by": "model",
        "tz": tz}).json()
    report = report_json(db_path, kind, "--since", "2026-09-01", "--until", "2026-11-20",
                         "--tz", tz)
    points = [p for p in body["series"] if p["cost"] or p["tokens"]]
    assert [row["key"] for row in report["rows"]] == [p["date"] for p in points]
    for row, point in zip(report["rows"], points, strict=True):
        assert (row["cost_usd"], row["total_tokens"]) == (point["cost"], point["tokens"])
        assert [row[k] for k in KINDS] == [point[k] for k in KINDS]
        assert row["models"] == sorted(point["breakdown"])


def test_report_totals_against_cost_log(seeded: sqlite_utils.Database, db_path: Path) -> None:
    sums = seeded.execute(
        f"SELECT SUM({NANOS}), SUM({TOKENS}), {', '.join(f'SUM({k})' for k in KINDS)}"
        " FROM cost_log").fetchone()
    for kind in ("models", "projects", "phases"):
        total = report_json(db_path, kind)["total"]
        assert total["key"] == "Total"
        assert total["cost_usd"] == usd(sums[0])
        assert total["total_tokens"] == sums[1]
        assert [total[k] for k in KINDS] == list(sums[2:])
    daily = report_json(db_path, "daily", "--since", "2026-01-01", "--until", "2026-11-20")
    assert daily["total"]["total_tokens"] == sums[1]
    assert daily["total"]["cost_usd"] == pytest.approx(usd(sums[0]), abs=1e-9)


def test_report_default_daily_is_the_last_30_days(client: TestClient, db_path: Path) -> None:
    body = client.get("/api/cost/timeseries", params={"start": "2026-10-22",
                                                      "end": "2026-11-20"}).json()
    report = report_json(db_path)
    assert [row["key"] for row in report["rows"]] == [
        p["date"] for p in body["series"] if p["cost"] or p["tokens"]]


def test_report_errors(seeded: sqlite_utils.Database, db_path: Path) -> None:
    bad = run(db_path, "report", "models", "--since", "2026-11-20", "--until", "2026-11-01")
    assert bad.exit_code == 2
    assert "invalid range: --since is after --until" in bad.output
    assert "unknown time zone 'Mars/Base'" in run(db_path, "report", "--tz", "Mars/Base").output
    assert run(db_path, "report", "--since", "20-11-2026").exit_code == 2


def table(result: dict, *, width: int, kind: str = "daily", **options) -> str:
    out = io.StringIO()
    render(kind, result, Console(file=out, width=width, **options), tz="UTC")
    return out.getvalue()


def test_table_has_a_total_row_and_fits_the_width(seeded: sqlite_utils.Database,
                                                  db_path: Path) -> None:
    daily = report_json(db_path, "daily", "--since", "2026-09-01", "--until", "2026-11-20")
    for width in (80, 100, 200):
        text = table(daily, width=width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert "…" not in text  # figures are shortened to fit, never cut
        assert "Total" in text.splitlines()[-2]
    wide = table(report_json(db_path, "models"), width=200, kind="models")
    total = report_json(db_path, "models")["total"]
    assert f"{total['cache_read_tokens']:,}" in wide  # full figures where they fit
    assert f"${total['cost_usd']:,.2f}" in wide


# An SGR sequence that sets a foreground or background colour.
COLOR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7])[;m]")


def test_table_honours_no_color(seeded: sqlite_utils.Database, db_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    result = report_json(db_path, "models")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert COLOR.search(table(result, width=120, kind="models", force_terminal=True))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not COLOR.search(table(result, width=120, kind="models", force_terminal=True))
    plain = run(db_path, "report", "models", env={"NO_COLOR": "1"}).output
    assert "\x1b[" not in plain and "Total" in plain


@pytest.mark.parametrize("query", [
    {}, {"format": "jsonl"}, {"start": "2026-11-01", "end": "2026-11-19", "tz": "Asia/Tokyo"},
    {"project": "beta", "format": "jsonl"},
])
def test_export_writes_the_api_bytes(client: TestClient, db_path: Path, tmp_path: Path,
                                     query: dict[str, str]) -> None:
    expected = client.get("/api/cost/export", params=query).content
    args = [arg for name, value in query.items() for arg in (f"--{name}", value)]
    stdout = CliRunner().invoke(main, ["--db", str(db_path), "export", *args],
                                catch_exceptions=False)
    assert stdout.exit_code == 0
    assert stdout.stdout_bytes == expected
    target = tmp_path / "out.txt"
    assert run(db_path, "export", *args, "-o", str(target)).exit_code == 0
    assert target.read_bytes() == expected


def test_export_errors(seeded: sqlite_utils.Database, db_path: Path) -> None:
    result = run(db_path, "export", "--start", "tomorrow")
    assert result.exit_code == 2
    assert "invalid start date: use YYYY-MM-DD or RFC3339" in result.output
