"""`costlog report sessions|blocks|model-ids` and `--breakdown` over an imported Claude Code
tree, each against a recomputation from the responses the tree was written from."""

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from costlog import clock
from costlog.cli import main
from tests.support.claude_code import R, Truth, write_tree

NOW = datetime(2026, 11, 19, 9, 30, tzinfo=UTC)  # d1 (06:00 UTC) is in the block holding now


@pytest.fixture(autouse=True)
def now(fixed_clock: datetime) -> Iterator[datetime]:
    previous = clock.set_clock(clock.fixed(NOW))
    yield NOW
    clock.set_clock(previous)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    tmp = tmp_path_factory.mktemp("reports")
    env = {"COSTLOG_DB": str(tmp / "c.db"), "HOME": str(tmp / "home"), "CLAUDE_CONFIG_DIR": None,
           "COSTLOG_PRICES": None, "COSTLOG_TZ": None,
           "COSTLOG_PROJECT": None}
    write_tree(tmp / "projects")
    imported = CliRunner().invoke(main, ["import", "--format", "claude-code",
                                         str(tmp / "projects")], env=env)
    assert imported.exit_code == 0, imported.output
    return env


def report(env: dict[str, str | None], *args: str) -> dict:
    result = CliRunner().invoke(main, ["report", *args, "--json"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def utc(truth: Truth) -> datetime:
    return datetime.fromisoformat(truth.timestamp.replace("Z", "+00:00")).astimezone(UTC)


def nanos(truth: Truth) -> int:
    return round(truth.cost * 1e9)


def sums(truths: list[Truth]) -> dict:
    """The figures a row of these responses must show."""
    return {"input_tokens": sum(t.input for t in truths),
            "output_tokens": sum(t.output for t in truths),
            "cache_creation_tokens": sum(t.write_5m + t.write_1h for t in truths),
            "cache_read_tokens": sum(t.read for t in truths),
            "total_tokens": sum(t.input + t.output + t.write_5m + t.write_1h + t.read
                                for t in truths),
            "cost_usd": sum(map(nanos, truths)) / 1e9}


def figures(row: dict) -> dict:
    return {key: row[key] for key in ("input_tokens", "output_tokens", "cache_creation_tokens",
                                      "cache_read_tokens", "total_tokens", "cost_usd")}


def by_model(truths: list[Truth]) -> list[dict]:
    models: dict[str, list[Truth]] = defaultdict(list)
    for truth in truths:
        models[truth.model].append(truth)
    return sorted(({"key": model, **sums(part)} for model, part in models.items()),
                  key=lambda row: (-row["cost_usd"], row["key"]))


def rfc3339(moment: datetime) -> str:
    """As the reports write it: UTC, to the second (as cost_log keeps timestamps)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def assert_rows(rows: list[dict], expected: list[dict]) -> None:
    assert [row["key"] for row in rows] == [row["key"] for row in expected]
    for row, want in zip(rows, expected, strict=True):
        assert figures(row) == pytest.approx(figures(want), rel=1e-12), row["key"]


def test_sessions(env: dict[str, str | None]) -> None:
    body = report(env, "sessions", "--all", "--breakdown")
    tasks: dict[str, list[Truth]] = defaultdict(list)
    for truth in R.values():
        tasks[truth.session].append(truth)
    expected = sorted(tasks.items(), key=lambda item: max(map(utc, item[1])), reverse=True)
    assert [row["key"] for row in body["rows"]] == [session for session, _ in expected]
    for row, (_, truths) in zip(body["rows"], expected, strict=True):
        assert row["project"] == truths[0].project
        assert row["first_activity"] == rfc3339(min(map(utc, truths)))
        assert row["last_activity"] == rfc3339(max(map(utc, truths)))
        assert row["models"] == sorted({t.model for t in truths})
        assert figures(row) == pytest.approx(sums(truths), rel=1e-12)
        assert_rows(row["breakdown"], by_model(truths))
    assert figures(body["total"]) == pytest.approx(sums(list(R.values())), rel=1e-12)
    assert body["title"] == "all time"
    # Without a window: the last 30 days up to now, named in the title.
    assert report(env, "sessions")["title"] == "2026-10-21 to 2026-11-19, the last 30 days"
    # --project filters, --since/--until bound the rows.
    blog = report(env, "sessions", "--project", "/home/dev/blog")["rows"]
    assert [row["key"] for row in blog] == ["9d2a-blog-one"]
    assert [row["key"] for row in report(env, "sessions", "--since", "2026-11-14",
                                         "--until", "2026-11-18")["rows"]] \
        == ["9d2a-blog-one", "4c1e-shop-two"]


def blocks_of(truths: list[Truth]) -> list[tuple[datetime, list[Truth]]]:
    """The blocks, formed event by event (not from hourly sums)."""
    out: list[tuple[datetime, list[Truth]]] = []
    for truth in sorted(truths, key=utc):
        if not out or utc(truth) >= out[-1][0] + timedelta(hours=5):
            out.append((utc(truth).replace(minute=0, second=0, microsecond=0), []))
        out[-1][1].append(truth)
    return out


def test_blocks(env: dict[str, str | None]) -> None:
    body = report(env, "blocks", "--all", "--breakdown")
    expected = blocks_of(list(R.values()))
    assert [row["start"] for row in body["rows"]] == [rfc3339(start) for start, _ in expected]
    assert [row["end"] for row in body["rows"]] \
        == [rfc3339(start + timedelta(hours=5)) for start, _ in expected]
    for row, (_, truths) in zip(body["rows"], expected, strict=True):
        assert figures(row) == pytest.approx(sums(truths), rel=1e-12)
        assert row["models"] == sorted({t.model for t in truths})
        assert_rows(row["breakdown"], by_model(truths))
    assert [row["active"] for row in body["rows"]] == [False] * (len(expected) - 1) + [True]
    active = body["rows"][-1]
    # d1 at 06:00 UTC, now 09:30: 90 minutes left of the 06:00-11:00 block.
    cost = nanos(R["d1"]) / 1e9
    assert active["minutes_left"] == 90
    assert active["burn_rate_usd_per_hour"] == pytest.approx(cost / 3.5, rel=1e-12)
    assert active["projected_cost_usd"] == pytest.approx(cost + cost / 3.5 * 1.5, rel=1e-12)
    assert "minutes_left" not in body["rows"][0]
    # --project filters the events before the blocks form: the shop's own blocks.
    shop = report(env, "blocks", "--all", "--project", "/home/dev/shop")["rows"]
    assert [row["start"] for row in shop] == [
        rfc3339(start) for start, _ in blocks_of([t for t in R.values()
                                                  if t.project == "/home/dev/shop"])]


def test_blocks_table(env: dict[str, str | None]) -> None:
    result = CliRunner().invoke(main, ["report", "blocks", "--all"],
                                env=env | {"COLUMNS": "120"})
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "costlog blocks report: all time (UTC)"
    assert "active, 90 min left" in result.stdout
    assert nanos(R["d1"]) < 10**7 / 3.5  # under a cent, its rate and projection too
    assert lines[-1] == "active block: <$0.01/h so far, projected <$0.01 at its end (90 min left)"


def test_model_ids(env: dict[str, str | None]) -> None:
    body = report(env, "model-ids")
    assert_rows(body["rows"], by_model(list(R.values())))


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly"])
def test_time_reports_break_down_by_model_id(env: dict[str, str | None], kind: str) -> None:
    body = report(env, kind, "--since", "2026-11-01", "--until", "2026-11-30", "--breakdown")
    plain = report(env, kind, "--since", "2026-11-01", "--until", "2026-11-30")
    assert [row["key"] for row in body["rows"]] == [row["key"] for row in plain["rows"]]
    for row in body["rows"]:
        assert "breakdown" not in plain["rows"][0]
        parts = row["breakdown"]
        assert sum(part["total_tokens"] for part in parts) == row["total_tokens"]
        assert sum(part["cost_usd"] for part in parts) == pytest.approx(row["cost_usd"],
                                                                        rel=1e-12)
    if kind == "daily":
        day = next(row for row in body["rows"] if row["key"] == "2026-11-14")
        assert_rows(day["breakdown"], by_model([R["b1"], R["b2"]]))


def test_breakdown_is_for_time_reports_only(env: dict[str, str | None]) -> None:
    result = CliRunner().invoke(main, ["report", "models", "--breakdown"], env=env)
    assert result.exit_code == 2
    assert "--breakdown is for daily, weekly, monthly, sessions, blocks" in result.stderr
