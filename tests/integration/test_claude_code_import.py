"""`costlog import --format claude-code` over a Claude Code logs tree written here, its figures
checked against a computation from the responses the tree was written from, in the database
and through the API."""

import json
import os
from collections import defaultdict
from pathlib import Path

import genai_prices
import pytest
from click.testing import CliRunner

from costlog import constants
from costlog.cli import main
from costlog.store.connection import connect
from tests.support.api import client_for, settings_for
from tests.support.claude_code import (
    BLOG,
    HAIKU,
    MALFORMED,
    OPUS,
    S1,
    S3,
    SHOP,
    SONNET,
    R,
    Truth,
    assert_same,
    expected_by_task,
    line,
    stored_by_task,
    write_tree,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {"COSTLOG_DB": str(tmp_path / "c.db"), "HOME": str(tmp_path / "home"),
            "CLAUDE_CONFIG_DIR": None, "COSTLOG_PRICES": None}


def run(env: dict[str, str | None], *args: str):
    return CliRunner().invoke(main, ["import", "--format", "claude-code", *args], env=env,
                              catch_exceptions=False)


def summary(events: int, new: int, files: int, malformed: int, *, unchanged: int = 0,
            revised: int = 0) -> str:
    return (f"imported {events} events ({new} new, {events - new - revised} already recorded,"
            f" {revised} revised) from {files} files ({unchanged} unchanged);"
            f" {malformed} malformed lines skipped")


@pytest.mark.parametrize("readers", ["one process", "a process per core"])
def test_import_twice_records_each_response_once(env: dict[str, str | None], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 readers: str) -> None:
    if readers == "a process per core":
        monkeypatch.setattr(constants, "IMPORT_PARALLEL_BYTES", 0)
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
    root = tmp_path / "projects"
    files = write_tree(root)
    first = run(env, str(root), "--chunk", "4")
    assert first.exit_code == 0, first.output
    cut = f"{root}/-home-dev-shop/{S1}.jsonl:13: invalid JSON: Unterminated string starting at:"
    assert first.stderr.splitlines()[-3:] == [
        f"{root}/-home-dev-blog/{S3}.jsonl:4: invalid JSON: Expecting property name enclosed in"
        " double quotes: line 1 column 2 (char 1)",
        f"{cut} line 1 column 143 (char 142)",
        summary(len(R), len(R), files, MALFORMED),
    ]
    expected = expected_by_task()
    assert_same(stored_by_task(Path(env["COSTLOG_DB"])), expected)

    # Nothing changed: no file is opened. --full reads every file again, and counts nothing
    # twice.
    second = run(env, str(root))
    assert second.exit_code == 0
    assert second.stderr.splitlines()[-1] == summary(0, 0, files, 0, unchanged=files)
    full = run(env, str(root), "--full")
    assert full.stderr.splitlines()[-1] == summary(len(R), 0, files, MALFORMED)
    assert_same(stored_by_task(Path(env["COSTLOG_DB"])), expected)

    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT event_id, cost_source FROM cost_log ORDER BY timestamp").fetchall() \
        == [("cc:msg_a1:req_a1", "computed"), ("cc:msg_a2:req_a2", "computed"),
            ("cc:msg_a4:req_a4", "computed"), ("cc:msg_a3:req_a3", "reported"),
            ("cc:msg_b1:req_b1", "computed"), ("cc:msg_b2", "computed"),
            ("cc:msg_c1:req_c1", "computed"), ("cc:msg_c2:req_c2", "computed"),
            ("cc:msg_d1:req_d1", "computed")]
    assert db.execute("SELECT DISTINCT model, model_id, provider FROM cost_log ORDER BY 1")\
        .fetchall() == [("haiku", HAIKU, "claude"), ("opus", OPUS, "claude"),
                        ("sonnet", SONNET, "claude")]
    assert db.execute("SELECT timestamp FROM cost_log WHERE event_id = 'cc:msg_d1:req_d1'")\
        .fetchone() == ("2026-11-19 06:00:00",)
    # The 1-hour writes, web searches and service tier of the usage block, and the price used.
    assert db.execute(
        "SELECT event_id, cache_creation_1h_tokens, web_search_requests, service_tier,"
        " price_source FROM cost_log WHERE event_id IN ('cc:msg_a2:req_a2', 'cc:msg_a3:req_a3',"
        " 'cc:msg_b1:req_b1') ORDER BY event_id").fetchall() == [
        ("cc:msg_a2:req_a2", 45000, 2, "standard", f"genai-prices {genai_prices.__version__}"),
        ("cc:msg_a3:req_a3", 0, 0, "standard", ""),
        ("cc:msg_b1:req_b1", 0, 0, "standard", f"genai-prices {genai_prices.__version__}")]
    db.close()
    check = CliRunner().invoke(main, ["aggregates", "check"], env=env)
    assert (check.exit_code, check.stderr) == (0, "no drift\n")

    # An import of more logs later adds only what is new.
    later = Truth("msg_e1", "req_e1", BLOG, S3, HAIKU, 1, 1, 0, 0, 0, "2026-11-20T10:00:00Z")
    with (root / f"-home-dev-blog/{S3}.jsonl").open("a") as log:
        log.write(line(later) + "\n")
    third = run(env, str(root))
    assert third.stderr.splitlines()[-1] == summary(1, 1, files, 0, unchanged=files - 1)


def usd(value: float) -> float:
    """A cost as the API reports it: summed in whole nano-dollars."""
    return round(value * 1e9) / 1e9


def test_the_figures_show_in_the_api(env: dict[str, str | None], tmp_path: Path) -> None:
    root = tmp_path / "projects"
    write_tree(root)
    assert run(env, str(root)).exit_code == 0
    settings = settings_for(Path(env["COSTLOG_DB"]), tmp_path)
    by_project: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for (project, session, _), (_, cost, *tokens) in expected_by_task().items():
        nanos, total = by_project[project].get(session, (0, 0))
        by_project[project][session] = (nanos + round(cost * 1e9), total + sum(tokens))
    with client_for(settings) as client:
        for project, sessions in by_project.items():
            body = client.get("/api/cost/breakdown",
                              params={"by": "task", "project": project}).json()
            assert {key: (round(share["cost"] * 1e9), share["tokens"])
                    for key, share in body["breakdown"].items()} == sessions, project
            assert body["total_cost_usd"] == sum(n for n, _ in sessions.values()) / 1e9
        phases = client.get("/api/cost/breakdown", params={"by": "phase", "project": SHOP}).json()
        assert phases["breakdown"]["subagent"]["cost"] == usd(R["a4"].cost)
        assert phases["breakdown"]["subagent"]["tokens"] == 900 + 310 + 1500 + 2500
        # Per UTC day (d1's 08:00+02:00 is 06:00 UTC on the 19th).
        days: dict[str, int] = defaultdict(int)
        for truth in R.values():
            day = "2026-11-19" if truth is R["d1"] else truth.timestamp[:10]
            days[day] += round(truth.cost * 1e9)
        series = client.get("/api/cost/timeseries", params={
            "granularity": "day", "start": "2026-11-10", "end": "2026-11-19"}).json()["series"]
        assert {point["date"]: round(point["cost"] * 1e9) for point in series
                if point["cost"]} == days
        # Month-to-date spend of a project, against its budget.
        budget = client.get("/api/cost/budget", params={"project": SHOP}).json()
        assert round(budget["current_spent_usd"] * 1e9) == sum(
            round(t.cost * 1e9) for t in R.values() if t.project == SHOP)
        models = client.get("/api/cost/breakdown", params={"by": "model"}).json()
        assert {key: round(share["cost"] * 1e9) for key, share in models["breakdown"].items()} \
            == {family: sum(round(t.cost * 1e9) for t in R.values() if family in t.model)
                for family in ("sonnet", "opus", "haiku")}


def test_default_paths(env: dict[str, str | None], tmp_path: Path) -> None:
    home = Path(str(env["HOME"]))
    missing = run(env)
    assert missing.exit_code == 1
    assert missing.stderr == (
        f"Error: no Claude Code logs: none of {home}/.config/claude/projects,"
        f" {home}/.claude/projects exists; give the logs folder as PATH\n")
    # Both default folders are read; each response counts once.
    write_tree(home / ".claude" / "projects")
    xdg = home / ".config" / "claude" / "projects" / "-home-dev-blog"
    xdg.mkdir(parents=True)
    (xdg / "copy.jsonl").write_text(line(R["c1"]) + "\n")
    both = run(env)
    assert both.stderr.splitlines()[-1] == summary(len(R), len(R), 6, MALFORMED)
    # CLAUDE_CONFIG_DIR (comma-separated) replaces them; its folders that lack projects/ are
    # left out.
    config = tmp_path / "claude-config"
    (config / "projects" / "-home-dev-blog").mkdir(parents=True)
    (config / "projects" / "-home-dev-blog" / "s.jsonl").write_text(line(R["c2"]) + "\n")
    configured = run(env | {"CLAUDE_CONFIG_DIR": f"{tmp_path / 'nowhere'}, {config}"})
    assert configured.stderr.splitlines()[-1] == summary(1, 0, 1, 0)


def test_paths_that_cannot_be_read(env: dict[str, str | None], tmp_path: Path) -> None:
    log = tmp_path / "one.jsonl"
    log.write_text(line(R["c2"]) + "\n")
    partly = run(env, str(tmp_path / "gone"), str(log), str(log))
    assert partly.exit_code == 0
    assert partly.stderr.splitlines()[0] == f"{tmp_path / 'gone'}: no such file or folder"
    assert partly.stderr.splitlines()[-1] == summary(1, 1, 1, 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run(env, str(empty))
    assert (nothing.exit_code, nothing.stderr) == (
        1, f"Error: no Claude Code logs (*.jsonl) in {empty}\n")


def test_many_malformed_lines_are_counted_and_some_shown(env: dict[str, str | None],
                                                         tmp_path: Path) -> None:
    log = tmp_path / "broken.jsonl"
    log.write_text("".join(f"{{broken {n}\n" for n in range(25)) + line(R["c2"]) + "\n")
    result = run(env, str(log))
    assert result.exit_code == 0
    err = result.stderr.splitlines()
    assert err[1] == f"{log}:1: invalid JSON: Expecting property name enclosed in double quotes:" \
        " line 1 column 2 (char 1)"
    assert err[-2:] == ["... and 5 more malformed lines", summary(1, 1, 1, 25)]


def test_prices_come_from_the_price_file_unless_the_log_has_costusd(
        env: dict[str, str | None], tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"claude-haiku": {"input": 2, "output": 10, "cache_write": 4,
                                                   "cache_read": 0.5}}))
    log = tmp_path / "one.jsonl"
    reported = Truth("msg_r", "req_r", SHOP, S1, HAIKU, 1, 1, 0, 0, 0, "2026-11-19T10:00:00Z",
                     cost_usd=0.25)
    unknown = Truth("msg_u", "req_u", SHOP, S1, "claude-next-1", 10, 10, 0, 0, 0,
                    "2026-11-19T10:00:00Z")
    log.write_text("\n".join([line(R["a4"]), line(reported), line(unknown)]) + "\n")
    assert run(env | {"COSTLOG_PRICES": str(prices)}, str(log)).exit_code == 0
    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT event_id, cost_usd, cost_source FROM cost_log ORDER BY 1")\
        .fetchall() == [
            ("cc:msg_a4:req_a4", (900 * 2 + 310 * 10 + 1500 * 4 + 2500 * 0.5) / 1e6, "computed"),
            ("cc:msg_r:req_r", 0.25, "reported"),
            ("cc:msg_u:req_u", 0.0, "unpriced")]
    db.close()
    broken = run(env | {"COSTLOG_PRICES": str(tmp_path / "missing.json")}, str(log))
    assert (broken.exit_code, broken.stderr) == (
        1, f"Error: {tmp_path / 'missing.json'}: cannot read price file: No such file or"
           " directory\n")


def test_a_larger_later_copy_is_recorded_as_the_next_revision(
        env: dict[str, str | None], tmp_path: Path) -> None:
    """An import that ran while Claude Code was still writing a response recorded the copy
    written so far; the next import records the finished one as its revision, once."""
    root = tmp_path / "projects"
    log = root / "-home-dev-blog" / f"{S3}.jsonl"
    log.parent.mkdir(parents=True)
    response = Truth("msg_g1", "req_g1", BLOG, S3, SONNET, 20, 4000, 0, 0, 0,
                     "2026-11-20T10:00:00Z")
    log.write_text(line(response, output=1) + "\n")
    assert run(env, str(root)).stderr.splitlines()[-1] == summary(1, 1, 1, 0)
    with log.open("a") as stream:
        stream.write(line(response) + "\n")
    assert run(env, str(root)).stderr.splitlines()[-1] == summary(1, 0, 1, 0, revised=1)
    # Read again from the start, both copies: the recorded one is the largest already.
    assert run(env, str(root), "--full").stderr.splitlines()[-1] == summary(1, 0, 1, 0)
    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT output_tokens, revision, cost_usd FROM cost_log").fetchall() == [
        (4000, 1, pytest.approx(response.cost))]
    assert db.execute("SELECT revision, superseded_by FROM cost_log_revisions").fetchall() == [
        (0, "import")]
    db.close()
    check = CliRunner().invoke(main, ["aggregates", "check"], env=env)
    assert (check.exit_code, check.stderr) == (0, "no drift\n")
