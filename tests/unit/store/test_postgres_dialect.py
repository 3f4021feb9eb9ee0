"""SQLite's SQL as the PostgreSQL back end runs it (pure text; no server needed)."""

import pytest

from costlog.settings import Settings, database, database_label, is_postgres_url
from costlog.store import postgres, rollups
from costlog.store.postgres import translate


@pytest.mark.parametrize(("sqlite", "postgresql"), [
    ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
    ("SELECT a FROM t WHERE b = :b", "SELECT a FROM t WHERE b = %(b)s"),
    # literals keep their colons, question marks and percent signs (doubled for psycopg)
    ("SELECT 'a:b?', x FROM t WHERE y LIKE '5%' AND z = :z",
     "SELECT 'a:b?', x FROM t WHERE y LIKE '5%%' AND z = %(z)s"),
    ("INSERT INTO t(a) VALUES (datetime('now'))",
     f"INSERT INTO t(a) VALUES ({postgres.NOW_TEXT})"),
    ("INSERT OR IGNORE INTO m(version) VALUES (?)",
     "INSERT INTO m(version) VALUES (%s) ON CONFLICT DO NOTHING"),
    ("SELECT 1 FROM t WHERE 1 AND a = 1", "SELECT 1 FROM t WHERE TRUE AND a = 1"),
    ("SELECT k FROM t WHERE x AND (1) GROUP BY 1", "SELECT k FROM t WHERE x AND (TRUE) GROUP BY 1"),
    ("SELECT k FROM t ORDER BY k LIMIT :limit",
     "SELECT k FROM t ORDER BY k LIMIT NULLIF(%(limit)s, -1)"),
    ("SELECT MAX(instr(task_id, '/')) FROM t", "SELECT MAX(strpos(task_id, '/')) FROM t"),
    ("SELECT json_extract(p.value, '$[2]') FROM json_each(:r0) AS p",
     "SELECT CAST(p.value->>2 AS BIGINT) FROM jsonb_array_elements(CAST(%(r0)s AS jsonb))"
     " AS p(value)"),
    ("SELECT strftime('%Y-%m-%d %H:%M', x * :q, 'unixepoch')",
     "SELECT to_char(to_timestamp(x * %(q)s) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"),
    ("INSERT INTO c(name, value) VALUES (?, ?) ON CONFLICT(name)"
     " DO UPDATE SET value = value + excluded.value",
     "INSERT INTO c(name, value) VALUES (%s, %s) ON CONFLICT(name)"
     " DO UPDATE SET value = c.value + excluded.value"),
    ("INSERT INTO r (k, v) SELECT r.k, SUM(r.v) FROM s AS r WHERE 1 GROUP BY 1 ON CONFLICT(k)"
     " DO NOTHING",
     "INSERT INTO r (k, v) SELECT r.k, costlog_sum(r.v) FROM s AS r WHERE TRUE GROUP BY 1"
     " ORDER BY 1"
     " ON CONFLICT(k) DO NOTHING"),
    ("SELECT last_insert_rowid()", "SELECT lastval()"),
    ("INSERT INTO b(p, tz) VALUES (:p, :tz) ON CONFLICT(p) DO UPDATE SET"
     " tz = COALESCE(:tz, tz), n = n + 1, m = excluded.m",
     "INSERT INTO b(p, tz) VALUES (%(p)s, %(tz)s) ON CONFLICT(p) DO UPDATE SET"
     " tz = COALESCE(%(tz)s, b.tz), n = b.n + 1, m = excluded.m"),
    ("SELECT p FROM b WHERE p IN (SELECT value FROM json_each(?))",
     "SELECT p FROM b WHERE p IN (SELECT value FROM jsonb_array_elements_text(CAST(%s AS jsonb))"
     " AS json_each(value))"),
    ("SELECT json_group_array(json_array(k, c)), json_object('a', a) FROM t",
     "SELECT COALESCE(json_agg(json_build_array(k, c)), CAST('[]' AS json)),"
     " json_build_object('a', a) FROM t"),
    ("SELECT TOTAL(ABS(r.c * 1.0)), TOTAL(x) FROM r",
     "SELECT COALESCE(costlog_sum(CAST(ABS(r.c * 1.0) AS DOUBLE PRECISION)),"
     " CAST(0 AS DOUBLE PRECISION)), COALESCE(costlog_sum(CAST(x AS DOUBLE PRECISION)),"
     " CAST(0 AS DOUBLE PRECISION)) FROM r"),
    # Every SUM, however spelt, as a window too; a name that only ends in sum stays.
    ("SELECT sum(x), SUM(y) OVER (), checksum(z) FROM r",
     "SELECT costlog_sum(x), costlog_sum(y) OVER (), checksum(z) FROM r"),
])
def test_translate(sqlite: str, postgresql: str) -> None:
    assert translate(sqlite) == postgresql


def test_cost_in_nano_usd_rounds_like_sqlite() -> None:
    # SQLite's ROUND(x) is floor(x + 0.5) for x >= 0; PostgreSQL's round(double) ties to even.
    assert rollups.COST_NANOS not in translate(rollups.STAGE_ROWS)
    assert postgres.COST_NANOS in translate(rollups.STAGE_ROWS)


def test_every_per_row_upsert_is_grouped_in_key_order() -> None:
    # ON CONFLICT DO UPDATE cannot touch one row twice in a statement: rows are grouped first.
    for statement in rollups.ADD_STATEMENTS:
        pg = translate(statement)
        assert " GROUP BY " in pg and " ORDER BY " in pg, pg
        assert "pg_temp.costlog_new_rows" in pg


def test_staging_table_is_typed_by_its_expressions() -> None:
    create = translate(rollups.CREATE_STAGED_ROWS)
    assert create.startswith("CREATE TEMP TABLE IF NOT EXISTS costlog_new_rows AS SELECT * FROM")
    assert create.endswith("WHERE n.id > 0 AND n.id <= 0) AS staged WITH NO DATA")


@pytest.mark.parametrize(("value", "expected"), [
    ("postgresql://u:pw@db:5432/costlog", "postgresql://u:pw@db:5432/costlog"),
    ("postgres://db/costlog", "postgres://db/costlog"),
    ("/var/lib/costlog.db", None),
])
def test_database_setting(value: str, expected: str | None) -> None:
    target = database(value)
    if expected is None:
        assert str(target) == value and not is_postgres_url(target)
    else:
        assert target == expected and is_postgres_url(target)


@pytest.mark.parametrize(("target", "label"), [
    ("postgresql://costlog:s3cret@db:5432/costlog", "postgresql://costlog:***@db:5432/costlog"),
    ("postgresql://db/costlog", "postgresql://db/costlog"),
    ("/tmp/x.db", "/tmp/x.db"),
])
def test_database_label_hides_the_password(target: str, label: str) -> None:
    assert database_label(target) == label


def test_a_url_keeps_its_slashes_and_the_spool_goes_to_the_data_directory(tmp_path) -> None:
    settings = Settings.from_env({"COSTLOG_DB": "postgresql://db/costlog",
                                  "XDG_DATA_HOME": str(tmp_path)})
    assert settings.db_path == "postgresql://db/costlog"
    assert settings.spool_dir.name == "spool"
    overridden = Settings().override(db_path="postgresql://h/x")
    assert overridden.db_path == "postgresql://h/x"
