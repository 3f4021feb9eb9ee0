"""Budget alert decisions in the write transaction: once per budget, month and kind."""

import json
import shutil
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from costlog import clock
from costlog.domain import alerts as domain
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store import alerts
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.orchestrator import set_budget
from costlog.store.write import record_events
from tests.conftest import NOW

PRICES = PriceTable()
THRESHOLD, EXCEEDED = domain.THRESHOLD, domain.EXCEEDED


def event(event_id: str, cost: float, project: str = "alpha",
          timestamp: str = "2026-11-19T10:00:00Z") -> Any:
    return parse_event({"event_id": event_id, "project_id": project, "task_id": "T",
                        "phase": "implement", "model": "claude-sonnet-4-5", "cost_usd": cost,
                        "timestamp": timestamp}, now=clock.now())


def fired(db: sqlite_utils.Database) -> list[tuple[str, str, str, float, float]]:
    return db.execute("SELECT id, project_id, month, spent_usd, limit_usd FROM cost_alerts"
                      " ORDER BY id").fetchall()


def test_threshold_then_exceeded_each_once(db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 100.0, 80)
    assert record_events(db, [event("e1", 79.0)], PRICES).decision.fired == ()
    result = record_events(db, [event("e2", 1.0)], PRICES)
    assert result.decision.fired == ("budget.threshold:alpha:2026-11",)
    # Further spend under the limit, and the same events again, fire nothing more.
    assert record_events(db, [event("e3", 20.0), event("e1", 79.0)], PRICES).decision.fired == ()
    result = record_events(db, [event("e4", 0.01)], PRICES)
    assert result.decision.fired == ("budget.exceeded:alpha:2026-11",)
    assert record_events(db, [event("e5", 50.0)], PRICES).decision.fired == ()
    assert fired(db) == [("budget.exceeded:alpha:2026-11", "alpha", "2026-11", 100.01, 100.0),
                         ("budget.threshold:alpha:2026-11", "alpha", "2026-11", 80.0, 100.0)]


def test_one_write_crossing_both_fires_both(db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 10.0, 50)
    result = record_events(db, [event("e1", 3.0), event("e2", 9.0)], PRICES)
    assert result.decision.fired == ("budget.threshold:alpha:2026-11",
                                     "budget.exceeded:alpha:2026-11")
    payload = json.loads(alerts.payload(db, "budget.exceeded:alpha:2026-11") or "{}")
    assert payload["text"] == ("costlog: alpha has exceeded its $10.00 budget for November 2026"
                               " ($12.00 spent, 120.0%)")
    assert payload["budget"]["current_spent_usd"] == 12.0
    assert payload["fired_at"] == "2026-11-20T12:00:00+00:00"


def test_other_months_and_projects_do_not_count(db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 10.0, 80)
    record_events(db, [event("old", 50.0, timestamp="2026-10-31T23:59:59Z"),
                       event("other", 50.0, project="beta")], PRICES)
    assert fired(db) == []


def test_all_projects_budget_alerts_on_the_sum(db: sqlite_utils.Database) -> None:
    set_budget(db, None, 10.0, 80)
    record_events(db, [event("a", 4.0), event("b", 3.0, project="beta")], PRICES)
    assert fired(db) == []
    result = record_events(db, [event("c", 1.0, project="gamma")], PRICES)
    assert result.decision.fired == ("budget.threshold:*:2026-11",)
    assert {state.project: state.spent_usd for state in result.decision.states} == {"*": 8.0}


def test_lowering_the_limit_fires_at_once(db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 100.0, 80)
    record_events(db, [event("e1", 30.0)], PRICES)
    decision = set_budget(db, "alpha", 25.0)
    assert decision.fired == ("budget.threshold:alpha:2026-11", "budget.exceeded:alpha:2026-11")
    # Raising and lowering it again this month: nothing fires twice.
    set_budget(db, "alpha", 100.0)
    assert set_budget(db, "alpha", 20.0).fired == ()
    assert len(fired(db)) == 2


def test_across_a_restart(db_path: Path, db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 10.0, 80)
    record_events(db, [event("e1", 9.0)], PRICES)
    db.close()
    reopened = connect(db_path)
    migrate(reopened)
    assert record_events(reopened, [event("e2", 0.5)], PRICES).decision.fired == ()
    assert [row[0] for row in fired(reopened)] == ["budget.threshold:alpha:2026-11"]
    reopened.close()


def test_a_new_month_re_arms(db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 10.0, 80, timezone="America/New_York")
    record_events(db, [event("nov", 11.0)], PRICES)
    # 2026-12-01 03:00Z is still November in New York: nothing new.
    clock.set_clock(clock.fixed(datetime(2026, 12, 1, 3, 0, tzinfo=UTC)))
    assert record_events(db, [event("late", 1.0, timestamp="2026-12-01T02:00:00Z")],
                         PRICES).decision.fired == ()
    clock.set_clock(clock.fixed(datetime(2026, 12, 1, 6, 0, tzinfo=UTC)))
    result = record_events(db, [event("dec", 11.0, timestamp="2026-12-01T05:30:00Z")], PRICES)
    assert result.decision.fired == ("budget.threshold:alpha:2026-12",
                                     "budget.exceeded:alpha:2026-12")
    assert [state.month for state in result.decision.states] == ["2026-12"]


def test_budget_zone_sets_the_month(db: sqlite_utils.Database) -> None:
    # 2026-10-31 20:00Z is 01:30 on November 1st in Kolkata: November's spend there.
    set_budget(db, "alpha", 10.0, 80, timezone="Asia/Kolkata")
    result = record_events(db, [event("e", 9.0, timestamp="2026-10-31T20:00:00Z")], PRICES)
    assert result.decision.fired == ("budget.threshold:alpha:2026-11",)


def test_states_and_listing(db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 10.0, 80, hard_limit=True)
    set_budget(db, "beta", 0.0)  # no limit: no state, no alerts
    record_events(db, [event("e1", 12.0), event("e2", 1.0, project="beta")], PRICES)
    assert alerts.all_states(db, NOW) == [domain.BudgetState("alpha", "2026-11", "UTC", 12.0,
                                                             10.0, True)]
    listed = alerts.list_alerts(db, project="alpha", month="2026-11")
    # Newest first: both fired in one write, the exceeded one after the threshold.
    assert [(a["id"], a["spent_usd"], a["deliveries"]) for a in listed] == [
        ("budget.exceeded:alpha:2026-11", 12.0, []),
        ("budget.threshold:alpha:2026-11", 12.0, [])]
    assert alerts.list_alerts(db, project="beta", month=None) == []
    assert alerts.counts(db) == {"fired": 2, "pending": 0, "failed": 0, "unqueued": 2}


def test_delivery_bookkeeping(db: sqlite_utils.Database) -> None:
    set_budget(db, "alpha", 10.0, 80)
    record_events(db, [event("e1", 9.0)], PRICES)
    ident = "budget.threshold:alpha:2026-11"
    later = datetime(2026, 11, 20, 12, 0, 11, tzinfo=UTC)
    assert alerts.unqueued(db, later) == [ident]
    urls = ["https://u:p@a.example/hook?k=1", "http://b.example/h"]
    alerts.mark_enqueued(db, ident, urls, NOW)
    assert alerts.unqueued(db, later) == []
    alerts.record_attempt(db, ident, urls[0], error="HTTP 500", final=False, now=NOW)
    alerts.record_attempt(db, ident, urls[0], error=None, final=False, now=later)
    alerts.record_attempt(db, ident, urls[1], error="HTTP 404", final=True, now=later)
    [listed] = alerts.list_alerts(db, project=None, month=None)
    assert listed["deliveries"] == [
        {"url": "http://b.example/h", "status": "failed", "attempts": 1,
         "last_error": "HTTP 404", "delivered_at": None},
        {"url": "https://a.example/hook", "status": "delivered", "attempts": 2,
         "last_error": None, "delivered_at": "2026-11-20T12:00:11+00:00"}]
    assert alerts.counts(db) == {"fired": 1, "pending": 0, "failed": 1, "unqueued": 0}


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
                                  "Pacific/Chatham"])
@pytest.mark.parametrize("project", ["alpha", "*"])
def test_month_spend_matches_cost_log(db: sqlite_utils.Database, zone: str,
                                      project: str) -> None:
    # Rows every 37 minutes from mid-October to mid-December: on and around every month edge.
    clock.set_clock(clock.fixed(datetime(2026, 12, 20, tzinfo=UTC)))
    start = datetime(2026, 10, 15, tzinfo=UTC)
    record_events(db, [event(f"e{i}", (i % 97) / 10, ("alpha", "beta")[i % 2],
                             (start + timedelta(minutes=37 * i)).isoformat())
                       for i in range(2400)], PRICES)
    quarter = NOW.replace(minute=0)
    window = alerts.month_window(zone, quarter)
    tz = ZoneInfo(zone)
    first, last = datetime(2026, 11, 1, tzinfo=tz), datetime(2026, 12, 1, tzinfo=tz)
    (expected,) = db.execute(
        "SELECT COALESCE(SUM(CAST(ROUND(cost_usd * 1e9) AS INTEGER)), 0) FROM cost_log"
        " WHERE timestamp >= ? AND timestamp < ? AND (? = '*' OR project_id = ?)",
        [first.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
         last.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), project, project]).fetchone()
    assert window.month == "2026-11"
    assert alerts.month_spend(db, project, window) == expected > 0


# -- property: random streams, budgets and worker interleavings ----------------------------------

PROJECTS = ("alpha", "beta", "gamma")
ZONES = ("UTC", "America/New_York", "Asia/Kolkata")
#: Around both edges of November in each zone, and well inside it.
STAMPS = ("2026-10-31T20:00:00Z", "2026-11-01T02:00:00Z", "2026-11-15T00:00:00Z",
          "2026-11-20T11:00:00Z")

# A threshold of 0 means the default 80: 1-100 here.
budget_st = st.tuples(st.integers(1, 4000).map(lambda cents: cents / 100),
                      st.integers(1, 100), st.sampled_from(ZONES))
event_st = st.tuples(st.sampled_from(PROJECTS), st.integers(0, 1500).map(lambda c: c / 100),
                     st.sampled_from(STAMPS))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated empty database to copy for each example (migrating takes longer)."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    database = connect(path)
    migrate(database)
    database.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return path


def _spend(events: dict[str, tuple[str, float, str]], project: str, zone: str) -> float:
    """Nano-USD of the distinct events in November (in ``zone``) of ``project`` ('*': all)."""
    tz = ZoneInfo(zone)
    start, end = datetime(2026, 11, 1, tzinfo=tz), datetime(2026, 12, 1, tzinfo=tz)
    nanos = sum(round(cost * 1e9) for p, cost, stamp in events.values()
                if (project == "*" or p == project)
                and start <= datetime.fromisoformat(stamp.replace("Z", "+00:00")) < end)
    return nanos / 1e9


@settings(max_examples=30)
@given(budgets=st.dictionaries(st.sampled_from(("alpha", "beta", "*")), budget_st, min_size=1),
       stream=st.lists(event_st, min_size=1, max_size=40),
       redeliver=st.lists(st.integers(0, 39), max_size=10),
       workers=st.integers(1, 3), job_size=st.integers(1, 5),
       change=st.one_of(st.none(), st.tuples(st.sampled_from(("alpha", "beta", "*")),
                                             budget_st, st.integers(0, 40))))
def test_alerts_fire_exactly_once_whatever_the_interleaving(
        migrated: Path, budgets: dict[str, tuple[float, int, str]],
        stream: list[tuple[str, float, str]],
        redeliver: list[int], workers: int, job_size: int,
        change: tuple[str, tuple[float, int, str], int] | None) -> None:
    events = {f"e{i}": item for i, item in enumerate(stream)}
    parsed = [event(ident, cost, project, stamp) for ident, (project, cost, stamp)
              in events.items()]
    # Redelivered events (the same ids again) land in other jobs.
    parsed += [parsed[i] for i in redeliver if i < len(parsed)]
    jobs = [parsed[i:i + job_size] for i in range(0, len(parsed), job_size)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        shutil.copy(migrated, path)
        setup = connect(path)
        for project, (limit, threshold, zone) in budgets.items():
            set_budget(setup, project, limit, threshold, timezone=zone)
        errors: list[BaseException] = []

        def work(mine: list[list[Any]], change_at: int | None) -> None:
            connection = connect(path)
            try:
                for number, job in enumerate(mine):
                    if change is not None and number == change_at:
                        project, (limit, threshold, zone) = change[0], change[1]
                        set_budget(connection, project, limit, threshold, timezone=zone)
                    record_events(connection, job, PRICES)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                connection.close()

        shares = [jobs[n::workers] for n in range(workers)]
        threads = [threading.Thread(target=work, args=(share, change[2] if change and n == 0
                                                       else None))
                   for n, share in enumerate(shares)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        if change is not None and change[2] >= len(shares[0]):
            set_budget(setup, change[0], *change[1][:2], timezone=change[1][2])
        final = dict(budgets)
        if change is not None:
            final[change[0]] = change[1]
        rows = setup.execute("SELECT id, type, project_id, month, spent_usd, limit_usd, payload"
                             " FROM cost_alerts").fetchall()
        setup.close()
    seen = {(project, kind) for _, kind, project, *_ in rows}
    assert len(seen) == len(rows)  # once per budget, month and kind
    for ident, kind, project, month, spent, limit, body in rows:
        assert (ident, month) == (domain.alert_id(kind, project, "2026-11"), "2026-11")
        budget = json.loads(body)["budget"]
        assert kind in domain.due(spent, limit, budget["alert_threshold_percent"])
        # Spend only grows: what it was at firing is at most what it is at the end.
        assert spent <= _spend(events, project, budget["timezone"]) + 1e-9
    for project, (limit, threshold, zone) in final.items():
        due = set(domain.due(_spend(events, project, zone), limit, threshold))
        fired_kinds = {kind for p, kind in seen if p == project}
        assert due <= fired_kinds  # every alert due at the end has fired
        if change is None:
            assert fired_kinds == due  # and, with budgets fixed, nothing else


def test_alerts_decide_on_the_spend_after_a_revision(db: sqlite_utils.Database) -> None:
    """A revision that raises the month's spend fires what it makes due, once; one that lowers
    it, or a void, un-sends nothing; the gate's state follows the spend both ways."""
    from costlog.store.write import void_event

    set_budget(db, "alpha", 100.0, 80)
    assert record_events(db, [event("e1", 10.0)], PRICES).decision.fired == ()
    raised = record_events(db, [parse_event({**event("e1", 85.0).to_json(), "revision": 1},
                                            now=clock.now())], PRICES)
    assert raised.revised == 1
    assert raised.decision.fired == ("budget.threshold:alpha:2026-11",)
    assert [state.spent_usd for state in raised.decision.states] == [85.0]
    lowered = record_events(db, [parse_event({**event("e1", 5.0).to_json(), "revision": 2},
                                             now=clock.now())], PRICES)
    assert lowered.decision.fired == ()
    assert [state.spent_usd for state in lowered.decision.states] == [5.0]
    # Over the threshold again: already sent this month, not sent again.
    again = record_events(db, [event("e2", 90.0)], PRICES)
    assert again.decision.fired == ()
    voided = void_event(db, "e2", "duplicate")
    assert voided.decision.fired == ()
    assert [state.spent_usd for state in voided.decision.states] == [5.0]
    over = record_events(db, [parse_event({**event("e2", 200.0).to_json(), "revision": 2},
                                          now=clock.now())], PRICES)
    assert over.decision.fired == ("budget.exceeded:alpha:2026-11",)
    assert [kind for kind, *_ in fired(db)] == ["budget.exceeded:alpha:2026-11",
                                               "budget.threshold:alpha:2026-11"]
