"""The costlog CLI, in process with click's runner, against a temp database and real Redis."""

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
from pathlib import Path

import click
import genai_prices
import pytest
import redis
from click.testing import CliRunner

from costlog import constants
from costlog.cli import importer, main
from costlog.cli.importer import ParserProcess
from costlog.domain.pricing import PriceTable
from costlog.store.connection import connect
from ingest.queue import make_queue
from tests.support.processes import COSTLOG

README = Path(__file__).parents[2] / "README.md"


def all_commands(group: click.Group = main,
                 prefix: str = "costlog") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += all_commands(command, path)
        else:
            found.append((path, command))
    return found


def test_every_command_is_documented() -> None:
    readme = README.read_text()
    commands = all_commands()
    assert [path for path, _ in commands] == [
        "costlog aggregates check", "costlog aggregates rebuild", "costlog api",
        "costlog emit", "costlog export", "costlog import", "costlog local-days add",
        "costlog local-days list", "costlog local-days remove", "costlog migrate",
        "costlog prices", "costlog report", "costlog reprice",
        "costlog spool replay",
        "costlog spool status", "costlog statusline", "costlog up", "costlog version",
        "costlog void",
        "costlog worker",
    ]
    for path, command in commands:
        assert command.help and len(command.help.strip()) > 20, f"{path} has no --help text"
        assert f"`{path}" in readme, f"{path} is not in the README"


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert (result.exit_code, result.output) == (
        0, f"costlog {importlib.metadata.version('costlog')}\n")


@pytest.fixture
def env(tmp_path: Path, redis_url: str, queue_name: str) -> dict[str, str]:
    return {"COSTLOG_DB": str(tmp_path / "c.db"), "COSTLOG_REDIS_URL": redis_url,
            "COSTLOG_QUEUE": queue_name, "COSTLOG_SPOOL": str(tmp_path / "spool")}


def invoke(env: dict[str, str], *args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


GOOD = {"project_id": "p", "task_id": "T", "phase": "spec", "model": "claude-opus-4-5",
        "cost_usd": 1.5, "timestamp": "2026-11-19T10:00:00Z"}


def lines(*payloads: object) -> str:
    return "".join((p if isinstance(p, str) else json.dumps(p)) + "\n" for p in payloads)


def test_migrate_reports_then_is_up_to_date(env: dict[str, str]) -> None:
    first = invoke(env, "migrate")
    assert first.output == (
        "applied migrations 001, 002, 003, 004, 005, 006, 007, 008, 009, 010, 011, 012, 013,"
        f" 014, 015, 016, 017, 018, 019, 021 to {env['COSTLOG_DB']}\n")
    assert invoke(env, "migrate").output == f"{env['COSTLOG_DB']} is up to date\n"


def test_emit_rejects_bad_lines_and_publishes_good_ones(env: dict[str, str],
                                                        redis_url: str) -> None:
    stdin = lines(GOOD, "{not json", {**GOOD, "cost_usd": "12"}, "", {**GOOD, "task_id": "U"},
                  {**GOOD, "input_tokens": True})
    result = invoke(env, "emit", "-", stdin=stdin)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "line 2: invalid JSON: Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1)",
        "line 3: cost_usd: must be a number >= 0, got string",
        "line 6: input_tokens: must be an integer >= 0, got boolean",
        "published 2 events, rejected 3",
    ]
    connection = redis.Redis.from_url(redis_url)
    queue = make_queue(env["COSTLOG_QUEUE"], connection)
    jobs = queue.get_jobs()
    assert [[e["task_id"] for e in job.args[0]] for job in jobs] == [["T", "U"]]
    # Ids are content hashes: emitting the same line again yields the same id.
    again = invoke(env, "emit", "-", stdin=lines(GOOD))
    assert again.exit_code == 0
    assert queue.get_jobs()[-1].args[0][0]["event_id"] == jobs[0].args[0][0]["event_id"]
    connection.close()


def test_import_twice_counts_once(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(lines(*({**GOOD, "task_id": f"T{i}", "cost_usd": i / 4} for i in range(7)),
                            {**GOOD, "phase": ""}))
    first = invoke(env, "import", str(source), "--chunk", "3")
    assert first.exit_code == 1
    assert first.stderr.splitlines()[-2:] == [
        "line 8: phase: must not be empty",
        "imported 7 events, 0 duplicates ignored, 1 rejected",
    ]
    second = invoke(env, "import", str(source))
    assert second.stderr.splitlines()[-1] == "imported 0 events, 7 duplicates ignored, 1 rejected"
    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT COUNT(*), SUM(cost_usd) FROM cost_log").fetchone() == (7, 5.25)
    db.close()
    check = invoke(env, "aggregates", "check")
    assert (check.exit_code, check.stdout, check.stderr) == (0, "", "no drift\n")


def test_import_leaves_its_pages_in_the_database_file(env: dict[str, str],
                                                     tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(lines(*({**GOOD, "task_id": f"T{i}"} for i in range(400))))
    db_file = Path(env["COSTLOG_DB"])
    assert invoke(env, "migrate").exit_code == 0
    before = db_file.stat().st_size
    # Open in another process, like a worker or the API: closing the import's connection is
    # then not closing the last one, which would checkpoint anyway.
    db = connect(db_file)
    assert db.execute("SELECT COUNT(*) FROM cost_log").fetchone() == (0,)
    subprocess.run([COSTLOG, "import", str(source), "--chunk", "100"], env=env, check=True,
                   capture_output=True, timeout=60)
    ((pages,),), ((page_size,),) = db.execute("PRAGMA page_count"), db.execute("PRAGMA page_size")
    assert db.execute("SELECT COUNT(*) FROM cost_log").fetchone() == (400,)
    # Checkpointed: the file holds every page the import wrote, not only the WAL.
    assert db_file.stat().st_size == pages * page_size > before
    db.close()


def test_import_keeps_the_first_of_repeated_event_ids(env: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows of 4 rows sorted by timestamp, chunks of 3: the repeats of "a" come later in the
    # file with earlier timestamps, one in the same window and one in the next.
    monkeypatch.setattr(constants, "IMPORT_CHUNK", 4)
    monkeypatch.setattr(constants, "IMPORT_SORT_WINDOW", 4)
    rows = [{**GOOD, "event_id": "z", "timestamp": "2026-11-19T10:00:00Z"},
            {**GOOD, "event_id": "a", "cost_usd": 1.0, "timestamp": "2026-11-19T09:00:00Z"},
            {**GOOD, "event_id": "a", "cost_usd": 2.0, "timestamp": "2026-11-18T09:00:00Z"},
            "[]",
            {**GOOD, "event_id": "b", "timestamp": "2026-11-17T09:00:00Z"},
            {**GOOD, "event_id": "a", "cost_usd": 3.0, "timestamp": "2026-11-16T09:00:00Z"},
            {**GOOD, "event_id": "c", "timestamp": "2026-11-15T09:00:00Z"}]
    source = tmp_path / "events.jsonl"
    source.write_text(lines(*rows))
    result = invoke(env, "import", str(source), "--chunk", "3")
    assert result.stderr.splitlines()[-2:] == [
        "line 4: event: must be a JSON object, got array",
        "imported 4 events, 2 duplicates ignored, 1 rejected",
    ]
    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT event_id, cost_usd FROM cost_log ORDER BY id").fetchall() == [
        ("b", 1.5), ("a", 1.0), ("z", 1.5), ("c", 1.5)]  # each window in timestamp order
    db.close()
    assert invoke(env, "aggregates", "check").exit_code == 0


def test_import_reports_an_unreadable_file(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(lines(GOOD).encode() + b"\xff\xfe\n")
    with pytest.raises(UnicodeDecodeError):
        invoke(env, "import", str(source))


def _exit_at_once(*_args: object) -> None:
    os._exit(3)


def test_import_reports_a_parser_that_died(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "_parse_file", _exit_at_once)
    source = tmp_path / "events.jsonl"
    source.write_text(lines(GOOD))
    with ParserProcess(source, PriceTable()) as parser, pytest.raises(
            importer.ParserDied, match=r"^the parser process ended \(exit code 3\)$"):
        list(parser)


def test_import_progress_adds_up_to_the_file_size(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows of 2, 4, 5, 5... rows (doubling from a chunk), in messages of 2.
    monkeypatch.setattr(constants, "IMPORT_CHUNK", 2)
    monkeypatch.setattr(constants, "IMPORT_SORT_WINDOW", 5)
    monkeypatch.setattr(constants, "IMPORT_MESSAGE_LINES", 2)
    source = tmp_path / "events.jsonl"
    source.write_text(lines(*({**GOOD, "task_id": f"T{i}"} for i in range(12)), "{bad",
                            {**GOOD, "task_id": "é"}))
    with ParserProcess(source, PriceTable()) as parser:
        messages = list(parser)
    assert sum(m.size for m in messages) == source.stat().st_size
    assert [len(m.rows()) for m in messages if m.packed] == [2, 2, 2, 2, 2, 1, 2]
    assert [r for m in messages for r in m.rejected] == [
        (13, "invalid JSON: Expecting property name enclosed in double quotes:"
             " line 1 column 2 (char 1)")]


def test_aggregates_check_finds_and_rebuild_repairs(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(lines(GOOD))
    invoke(env, "import", str(source))
    db = connect(env["COSTLOG_DB"])
    db.execute("UPDATE rollup_task SET events = 3")
    db.conn.commit()
    db.close()
    check = invoke(env, "aggregates", "check")
    assert (check.exit_code, check.stdout) == (1, "rollup_task p/T events: expected 1, found 3\n")
    assert invoke(env, "aggregates", "rebuild").stdout == "rollups rebuilt\n"
    assert invoke(env, "aggregates", "check").exit_code == 0


def test_local_days_add_list_remove(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    # 03:30 UTC: the day before in New York (-05:00), the same day in Kolkata (+05:30).
    source.write_text(lines({**GOOD, "timestamp": "2026-11-19T03:30:00Z"}))
    invoke(env, "import", str(source))
    added = invoke(env, "local-days", "add", "America/New_York", "Asia/Kolkata")
    assert added.stdout == ("local days kept for America/New_York, Asia/Kolkata"
                            " (UTC offsets -05:00, -04:00, +05:30)\n")
    listed = invoke(env, "local-days", "list")
    assert listed.stdout == "America/New_York\t-05:00, -04:00\nAsia/Kolkata\t+05:30\n"
    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT utc_offset, day, project_id, cost_nanos FROM rollup_project_ld"
                      " ORDER BY utc_offset").fetchall() == [
        (-300, "2026-11-18", "p", 1_500_000_000), (-240, "2026-11-18", "p", 1_500_000_000),
        (330, "2026-11-19", "p", 1_500_000_000)]
    db.close()
    assert invoke(env, "aggregates", "check").exit_code == 0
    removed = invoke(env, "local-days", "remove", "America/New_York")
    assert removed.stdout == "local days kept for Asia/Kolkata (UTC offsets +05:30)\n"
    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT utc_offset, day FROM rollup_model_ld").fetchall() == [
        (330, "2026-11-19")]
    db.close()
    assert invoke(env, "local-days", "remove", "Asia/Kolkata").stdout == "no local days kept\n"
    empty = invoke(env, "local-days", "list")
    assert (empty.stdout, empty.stderr) == ("", "no local days kept\n")
    unknown = invoke(env, "local-days", "add", "Mars/Olympus_Mons")
    assert unknown.exit_code == 2
    assert "Invalid value for ZONES: unknown time zone 'Mars/Olympus_Mons'" in unknown.stderr


def test_spool_status_and_replay(env: dict[str, str], tmp_path: Path) -> None:
    down = {**env, "COSTLOG_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = invoke(down, "emit", "-", stdin=lines(GOOD, {**GOOD, "task_id": "U"}))
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == (
        "published 2 events (2 spooled: Redis unavailable), rejected 0")
    status = invoke(env, "spool", "status").stdout
    assert re.fullmatch(rf"{re.escape(env['COSTLOG_SPOOL'])}: 2 events in 1 files \(\d+ bytes\)\n",
                        status)
    failed = invoke(down, "spool", "replay")
    assert failed.exit_code == 1
    assert "events kept in the spool" in failed.stderr
    assert invoke(env, "spool", "replay").stdout == "replayed 2 events\n"
    assert invoke(env, "spool", "status").stdout.startswith(f"{env['COSTLOG_SPOOL']}: 0 events")


def test_void_takes_an_event_out_of_every_figure(env: dict[str, str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(lines({**GOOD, "event_id": "a"}, {**GOOD, "event_id": "b", "cost_usd": 2}))
    assert invoke(env, "import", str(events)).exit_code == 0
    result = invoke(env, "void", "a", "--reason", "recorded twice")
    assert (result.exit_code, result.stdout) == (0, "event a voided (revision 1)\n")
    again = invoke(env, "void", "a", "--reason", "again")
    assert (again.exit_code, again.stdout) == (0, "event a was already void (revision 1)\n")
    missing = CliRunner().invoke(main, ["void", "nope", "--reason", "x"], env=env)
    assert (missing.exit_code, missing.stderr) == (1, "Error: event not found: nope\n")
    report = json.loads(invoke(env, "report", "projects", "--all", "--json").stdout)
    assert report["rows"][0]["cost_usd"] == 2.0
    exported = invoke(env, "export", "--format", "jsonl").stdout
    assert [json.loads(line)["event_id"] for line in exported.splitlines()] == ["b"]
    assert invoke(env, "aggregates", "check").exit_code == 0


def test_reprice_dry_run_then_apply_exactly_once(env: dict[str, str], tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"claude-opus": {"input": 10, "output": 50, "cache_write": 0,
                                                  "cache_read": 0}}))
    computed = {**GOOD, "cost_usd": None, "input_tokens": 1_000_000, "output_tokens": 0}
    events = tmp_path / "events.jsonl"
    events.write_text(lines(
        {**computed, "event_id": "c1"}, {**computed, "event_id": "c2",
                                         "timestamp": "2026-10-05T10:00:00Z"},
        {**GOOD, "event_id": "r1"},  # reported: never touched
        {**computed, "event_id": "u1", "model": "mystery-model"}))
    assert invoke(env, "import", str(events)).exit_code == 0
    env = {**env, "COSTLOG_PRICES": str(prices)}
    dry = json.loads(invoke(env, "reprice", "--json").stdout)
    assert dry["dry_run"] is True and dry["applied"] == 0
    opus = [row for row in dry["rows"] if row["model_id"] == "claude-opus-4-5"]
    assert [(row["month"], row["rows"], row["changed"], row["cost_repriced_usd"])
            for row in opus] == [("2026-10", 1, 1, 10.0), ("2026-11", 1, 1, 10.0)]
    assert dry["total"]["rows"] == 3  # the two computed and the unpriced one
    assert dry["total"]["changed"] == 2
    assert (dry["total"]["difference_usd"]
            == dry["total"]["cost_repriced_usd"] - dry["total"]["cost_now_usd"])
    table = invoke(env, "reprice", "--since", "2026-11-01").stdout
    assert "dry run" in table and "2026-11" in table and "2026-10" not in table
    assert "Total" in table
    applied = invoke(env, "reprice", "--apply")
    assert "dry run" not in applied.stdout
    assert applied.stderr == "2 events re-priced as a new revision\n"
    again = json.loads(invoke(env, "reprice", "--apply", "--json").stdout)
    assert (again["applied"], again["total"]["changed"]) == (0, 0)
    db = connect(env["COSTLOG_DB"])
    assert db.execute("SELECT event_id, revision, cost_usd FROM cost_log ORDER BY event_id"
                      ).fetchall() == [("c1", 1, 10.0), ("c2", 1, 10.0), ("r1", 0, 1.5),
                                       ("u1", 0, 0.0)]
    assert db.execute("SELECT event_id, superseded_by FROM cost_log_revisions ORDER BY 1"
                      ).fetchall() == [("c1", "reprice"), ("c2", "reprice")]
    db.close()
    assert invoke(env, "aggregates", "check").exit_code == 0


# --- costlog prices ------------------------------------------------------------------------

CATALOGUE = f"genai-prices {genai_prices.__version__}"


def test_prices_shows_every_dimension_and_tier_and_the_source(env: dict[str, str]) -> None:
    result = invoke(env, "prices", "claude-sonnet-4-5-20250929", "--at", "2026-11-01")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"claude-sonnet-4-5-20250929 (claude) on 2026-11-01: {CATALOGUE}"
        " (anthropic claude-sonnet-4-5)",
        "USD per million tokens; web search per 1,000 requests",
        "                        whole input <= 200,000  > 200,000",
        "input (uncached)                         $3.00      $6.00",
        "output                                  $15.00     $22.50",
        "cache write, 5 minutes                   $3.75      $7.50",
        "cache write, 1 hour                      $6.00     $12.00",
        "cache read                               $0.30      $0.60",
        "web search                              $10.00     $10.00",
        "A request whose whole input (uncached + cache read + cache write) is above a tier's"
        " threshold pays that tier's rates for all of it.",
    ]


def test_prices_as_of_a_day_and_from_each_source(env: dict[str, str], tmp_path: Path) -> None:
    # Sonnet 4.6's long-context rate ended on 2026-03-13.
    before = invoke(env, "prices", "claude-sonnet-4-6", "--at", "2026-03-12").stdout
    after = invoke(env, "prices", "claude-sonnet-4-6", "--at", "2026-03-13").stdout
    assert "> 200,000" in before and "> 200,000" not in after
    corrected = invoke(env, "prices", "claude-sonnet-4-20250514").stdout.splitlines()
    assert corrected[0].endswith(": costlog correction (anthropic claude-sonnet-4-0)")
    assert corrected[3] == "input (uncached)                         $3.00      $6.00"
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"in-house": {"input": 0.5, "output": 1.5}}))
    override = invoke(env | {"COSTLOG_PRICES": str(prices)}, "prices", "in-house-7b",
                      "--provider", "local")
    digest = hashlib.sha256(prices.read_bytes()).hexdigest()[:12]
    assert override.stdout.splitlines() == [
        f"in-house-7b (local) on 2026-11-20: override {digest} (in-house)",
        "USD per million tokens; web search per 1,000 requests",
        "input (uncached)         $0.50",
        "output                   $1.50",
        "cache write, 5 minutes  $0.625",
        "cache write, 1 hour      $1.00",
        "cache read               $0.05",
        "web search               $0.00",
    ]


def test_prices_of_a_model_nothing_prices(env: dict[str, str]) -> None:
    result = invoke(env, "prices", "in-house-7b", "--provider", "local")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", "no price known for in-house-7b\n")


def test_prices_check_lists_the_unpriced_model_ids(env: dict[str, str]) -> None:
    clean = invoke(env, "prices", "check")
    assert (clean.exit_code, clean.stdout, clean.stderr) == (
        0, "", "0 model ids recorded without a price\n")
    events = [{**GOOD, "event_id": f"e{i}", "cost_usd": None, "model": model,
               "provider": provider, "input_tokens": 1000 * (i + 1), "output_tokens": 5}
              for i, (model, provider) in enumerate([
                  ("in-house-7b", "local"), ("in-house-7b", "local"), ("", "claude"),
                  ("claude-opus-4-5", "claude")])]
    path = Path(env["COSTLOG_DB"]).parent / "events.jsonl"
    path.write_text(lines(*events))
    assert invoke(env, "import", str(path)).exit_code == 0
    result = invoke(env, "prices", "check")
    assert (result.exit_code, result.stdout.splitlines(), result.stderr) == (1, [
        "model id     provider  events  tokens",
        "in-house-7b  local          2   3,010",
        "(empty)      claude         1   3,005",
    ], "2 model ids recorded without a price (an override file, COSTLOG_PRICES, can price"
       " them)\n")
