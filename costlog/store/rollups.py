"""Rollup definitions: each rollup is data, and one SQL template serves every path.

The same ``INSERT … SELECT … FROM <rows> … ON CONFLICT DO UPDATE`` adds a write's new rows (the
store: staged once, ``STAGED_ROWS``), back-fills after a migration and rebuilds (cost_log's rows
with ``lo = 0``), so the live path and the recomputation can never disagree about what a key or
a value is: both read the rows as ``ROW_COLUMNS`` (the store's statements may add the rows one by
one rather than grouped: ``Rollup.per_row``).
"""

import re
from dataclasses import dataclass, replace
from typing import Any

from costlog.constants import ALL_PROJECTS

# Row expressions over cost_log (alias ``n``). Keys never hold NULL: SQLite treats NULLs as
# distinct in UNIQUE constraints, which would add a new rollup row on every upsert.
PROJECT = "COALESCE(n.project_id, '')"
TASK = "COALESCE(n.task_id, '')"
PHASE = "COALESCE(n.phase, '')"
MODEL = "CASE WHEN COALESCE(n.model, '') = '' THEN 'unknown' ELSE n.model END"
INITIATIVE = "COALESCE(n.initiative_id, '')"
DAY = "substr(n.timestamp, 1, 10)"
HOUR = "substr(n.timestamp, 1, 13)"
# The UTC six hours holding the row, by their first hour: 'YYYY-MM-DD HH', HH in 00/06/12/18.
SIX_HOURS = (
    "substr(n.timestamp, 1, 11) || CASE WHEN substr(n.timestamp, 12, 2) < '06' THEN '00'"
    " WHEN substr(n.timestamp, 12, 2) < '12' THEN '06'"
    " WHEN substr(n.timestamp, 12, 2) < '18' THEN '12' ELSE '18' END"
)
QUARTER = (
    "substr(n.timestamp, 1, 14) || CASE"
    " WHEN CAST(substr(n.timestamp, 15, 2) AS INTEGER) < 15 THEN '00'"
    " WHEN CAST(substr(n.timestamp, 15, 2) AS INTEGER) < 30 THEN '15'"
    " WHEN CAST(substr(n.timestamp, 15, 2) AS INTEGER) < 45 THEN '30' ELSE '45' END"
)
# A row's tokens: total_tokens, or the four token columns where it is 0 (rows before 002).
TOKENS = (
    "CASE WHEN COALESCE(n.total_tokens, 0) > 0 THEN n.total_tokens ELSE"
    " COALESCE(n.input_tokens, 0) + COALESCE(n.output_tokens, 0)"
    " + COALESCE(n.cache_creation_tokens, 0) + COALESCE(n.cache_read_tokens, 0) END"
)
# Raw model id and provider as breakdown keys: rows before costlog have neither (their
# provider was the orchestrator's, Claude: the event's default provider).
MODEL_ID = "CASE WHEN COALESCE(n.model_id, '') = '' THEN 'unknown' ELSE n.model_id END"
PROVIDER = "CASE WHEN COALESCE(n.provider, '') = '' THEN 'claude' ELSE n.provider END"
COST_NANOS = "CAST(ROUND(COALESCE(n.cost_usd, 0) * 1e9) AS INTEGER)"
#: Each cost_log row as every rollup reads it (``r.<name>``): its keys without NULLs, its tokens
#: and nano-USD. A rollup's keys and values are written over these columns only, so one
#: statement serves both sources of rows (``Rollup.select``): cost_log itself, through a
#: subquery that SQLite flattens into the expressions, or a write's new rows staged once with
#: the expressions already computed, which every add statement then reads for the price of one.
ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("project", PROJECT), ("task", TASK), ("phase", PHASE), ("model", MODEL),
    ("initiative", INITIATIVE), ("day", DAY), ("hour", HOUR), ("six_hours", SIX_HOURS),
    ("quarter", QUARTER),
    ("tokens", TOKENS), ("cost_nanos", COST_NANOS),
    ("cost_usd", "COALESCE(n.cost_usd, 0)"),
    ("input_tokens", "COALESCE(n.input_tokens, 0)"),
    ("output_tokens", "COALESCE(n.output_tokens, 0)"),
    ("cache_tokens", "COALESCE(n.cache_creation_tokens, 0) + COALESCE(n.cache_read_tokens, 0)"),
    ("cache_creation_tokens", "COALESCE(n.cache_creation_tokens, 0)"),
    ("cache_read_tokens", "COALESCE(n.cache_read_tokens, 0)"),
    ("model_id", MODEL_ID),
    ("provider", PROVIDER),
    # task_count counts the task ids themselves: a NULL task id is no task.
    ("task_id", "n.task_id"),
    # Which cost_log row it is: the exact-range guard refuses rows by it (store/bounds.py).
    ("row_id", "n.id"),
)


def _cost_log_rows(where: str) -> str:
    return (f"(SELECT {', '.join(f'{expr} AS {name}' for name, expr in ROW_COLUMNS)}"
            f" FROM cost_log AS n WHERE {where})")


#: A live row: one not voided (migration 018). A voided row stays in cost_log, in no sum.
LIVE = "n.voided_at IS NULL"
#: The live rows with ``:lo < id <= :hi`` of cost_log as ROW_COLUMNS.
COST_LOG_ROWS = _cost_log_rows(f"n.id > :lo AND n.id <= :hi AND {LIVE}")
#: The same in a database that has no voids yet (before migration 018: its back-fills).
COST_LOG_ROWS_BEFORE_VOIDS = _cost_log_rows("n.id > :lo AND n.id <= :hi")
#: The live rows of the event ids in ``:ids`` (a JSON array): the versions a correction
#: supersedes, taken out of every rollup.
EVENT_ROWS = _cost_log_rows(
    f"n.event_id IN (SELECT value FROM json_each(:ids)) AND {LIVE}")
#: A write's rows as ROW_COLUMNS, computed once for the statements to read (a temporary table:
#: each writer connection has its own, emptied by every write).
STAGED_ROWS_TABLE = "temp.costlog_new_rows"


def live_rows(db: Any) -> str:
    """The cost_log rows every rollup sums (COST_LOG_ROWS) in the database ``db`` at whatever
    migration: before 018 no row is void."""
    columns = {column.name for column in db["cost_log"].columns}
    return COST_LOG_ROWS if "voided_at" in columns else COST_LOG_ROWS_BEFORE_VOIDS


#: The four token kinds every rollup sums beside the total (migration 009).
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
STANDARD_VALUES = (
    ("cost_nanos", "SUM(r.cost_nanos)"),
    ("tokens", "SUM(r.tokens)"),
    ("events", "COUNT(*)"),
    *((kind, f"SUM(r.{kind})") for kind in TOKEN_KINDS),
)
# Rollup keys: (column, value of row r).
_PROJECT = ("project_id", "r.project")
_TASK = ("task_id", "r.task")
_PHASE = ("phase", "r.phase")
_MODEL = ("model", "r.model")
_INITIATIVE = ("initiative_id", "r.initiative")
_DAY = ("day", "r.day")
_MONTH = ("month", "substr(r.day, 1, 7)")
_PROVIDER = ("provider", "r.provider")
_MODEL_ID = ("model_id", "r.model_id")
# cost_aggregates_tasks (migration 007) holds the keys below for every row in cost_log: which
# tasks each cost_aggregates bucket has seen.
TASK_BUCKET_KEYS = (_PROJECT, _MODEL, _PHASE, ("date", "r.day"), _TASK)
# cost_aggregates.task_count grows by one when the task has no earlier row in the bucket. The
# rows up to :lo are the ones in cost_aggregates_tasks (filled with this write's rows only after
# cost_aggregates, see ROLLUPS): a primary-key probe per new row, where a search of the task's
# earlier rows in cost_log grew with them. A recomputation (lo = 0) has no earlier rows.
_NEW_TASK = (
    "COUNT(DISTINCT CASE WHEN :lo = 0 OR NOT EXISTS (SELECT 1 FROM cost_aggregates_tasks AS t"
    f" WHERE {' AND '.join(f't.{column} = {expr}' for column, expr in TASK_BUCKET_KEYS)})"
    " THEN r.task_id END)"
)


def _negated(aggregate: str) -> str:
    """The aggregate that sums what ``aggregate`` does, negated, and is still additive row by
    row (``_row_value``)."""
    return "SUM(-1)" if aggregate == "COUNT(*)" else f"SUM(-({_row_value(aggregate)}))"


#: The cost_log column each of a row's ROW_COLUMNS (and the local-day rows' own) is computed
#: from; None: from no column of the row.
ROW_SOURCES: dict[str, str | None] = {
    "project": "project_id", "task": "task_id", "task_id": "task_id", "phase": "phase",
    "model": "model", "initiative": "initiative_id", "day": "timestamp", "hour": "timestamp",
    "six_hours": "timestamp", "quarter": "timestamp", "local_day": "timestamp",
    "utc_offset": None, "model_id": "model_id", "provider": "provider",
}
#: The cost_log columns some rollup key is computed from: a correction that keeps them all
#: puts its new version on the keys of the old one.
KEY_SOURCES = tuple(sorted({source for source in ROW_SOURCES.values() if source}))


def _row_value(aggregate: str) -> str:
    """The value one row adds to a ``SUM(…)`` or ``COUNT(*)`` aggregate."""
    if aggregate == "COUNT(*)":
        return "1"
    if aggregate.startswith("SUM(") and aggregate.endswith(")"):
        return aggregate[len("SUM("):-1]
    raise ValueError(f"{aggregate}: cannot be added row by row")


#: Values of ``Rollup.per_row``: the per-project statement, and also the all-projects one.
EACH_PROJECT: tuple[str | None, ...] = (None,)
EACH_PROJECT_AND_ALL: tuple[str | None, ...] = (None, "'*'")


#: A time key's period as a number of UTC quarter hours: a day, six hours, an hour, a quarter.
DAY_QUARTERS, SIX_HOURS_QUARTERS, HOUR_QUARTERS, QUARTER_QUARTERS = 96, 24, 4, 1
#: The rollup columns that hold a time key.
TIME_COLUMNS = ("day", "hour", "bucket")


@dataclass(frozen=True)
class TimeLevel:
    """How the read side sums a rollup by time: a series or a range of ``of`` (its dimension:
    ``model``, ``phase`` or ``project``) reads the coarsest level that fits, then finer ones at
    the edges (``queries``' levels are built from these)."""

    of: str
    quarters: int  # one period's length in UTC quarter hours
    #: The rollup keeping the same sums by local day at each registered offset, for a UTC day
    #: rollup that has one.
    local_days: str | None = None


@dataclass(frozen=True)
class Rollup:
    table: str
    keys: tuple[tuple[str, str], ...]  # (column, expression over a row r of ROW_COLUMNS)
    #: The migration that creates the table: its rows are back-filled from cost_log after it.
    since: int
    values: tuple[tuple[str, str], ...] = STANDARD_VALUES  # (column, aggregate expression)
    where: str = "1"
    #: Also add every row into project_id '*', the all-projects total.
    all_projects: bool = False
    #: Extra columns written on insert only (not part of the sums).
    constants: tuple[tuple[str, str], ...] = ()
    #: Tables the statements read besides cost_log (a later migration may add them).
    reads: tuple[str, ...] = ()
    #: The statements (by project expression, see project_exprs) that add a write's rows one by
    #: one instead of grouping them first: where a write's rows fall on nearly as many keys as
    #: there are rows, an upsert per row costs less than sorting the rows into groups. A
    #: recomputation over all of cost_log always groups.
    per_row: tuple[str | None, ...] = ()
    #: Rows once per registered local-day offset (``LOCAL_DAY_ROWS``): keys may use
    #: ``r.utc_offset`` and ``r.local_day``.
    by_offset: bool = False
    #: Read as a level of a series by time (None: read by key alone).
    level: TimeLevel | None = None

    def __post_init__(self) -> None:
        if self.per_row:
            for _, aggregate in self.values:
                _row_value(aggregate)  # every value must be additive row by row

    @property
    def time_column(self) -> str:
        """The key column holding the period (a rollup by time only)."""
        return next(column for column, _ in self.keys if column in TIME_COLUMNS)

    @property
    def period_first(self) -> bool:
        """Keyed by the period before the project: one range scan reads every project's
        rows of a period."""
        return self.keys[0][0] in TIME_COLUMNS

    @property
    def key_columns(self) -> list[str]:
        return [column for column, _ in self.keys]

    @property
    def value_columns(self) -> list[str]:
        return [column for column, _ in self.values]

    def _key_exprs(self, project_expr: str | None) -> list[str]:
        return [
            (project_expr if column == "project_id" and project_expr else expr)
            for column, expr in self.keys
        ]

    def _source(self, rows: str) -> str:
        return LOCAL_DAY_ROWS.format(rows=rows) if self.by_offset else rows

    def select(self, project_expr: str | None = None, *, grouped: bool = True,
               rows: str = COST_LOG_ROWS) -> str:
        """The SELECT over ``rows`` (cost_log's rows with ``:lo < id <= :hi`` unless a table of
        them staged as ROW_COLUMNS is named): one row per key, or with ``grouped=False`` one per
        cost_log row."""
        keys = self._key_exprs(project_expr)
        values = [expr if grouped else _row_value(expr) for _, expr in self.values]
        exprs = keys + values + [e for _, e in self.constants]
        group = ", ".join(str(i + 1) for i in range(len(keys)))
        return (
            f"SELECT {', '.join(exprs)} FROM {self._source(rows)} AS r WHERE {self.where}"
            + (f" GROUP BY {group}" if grouped else "")
        )

    def project_exprs(self) -> list[str | None]:
        return [None, "'*'"] if self.all_projects else [None]

    def add_statements(self, *, recompute: bool = False, rows: str = COST_LOG_ROWS) -> list[str]:
        """Additive upserts: ``rows`` (see select) are added into the existing sums (grouped
        first unless ``per_row`` says otherwise; ``recompute``: always grouped).

        A rollup without values is a key table: a key already there is left as it is.
        """
        columns = self.key_columns + self.value_columns + [c for c, _ in self.constants]
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in self.value_columns)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        return [
            f"INSERT INTO {self.table} ({', '.join(columns)})"
            f" {self.select(project, grouped=recompute or project not in self.per_row, rows=rows)}"
            f" ON CONFLICT({', '.join(self.key_columns)}) {action}"
            for project in self.project_exprs()
        ]

    def subtract_statements(self, rows: str = STAGED_ROWS_TABLE, *,
                            grouped: bool = False) -> list[str]:
        """Upserts that take ``rows`` (staged ROW_COLUMNS) out of the sums again: the additive
        upserts with every value negated (row by row where ``per_row`` says so, unless
        ``grouped``), each returning the count of the rows its keys now hold. ``task_count``
        is left to :data:`TASK_KEYS_GONE`, a key table to it too (it alone knows whether a task
        keeps a live row in the bucket)."""
        if not self.values:
            return []
        negated = tuple((column, "0" if aggregate == _NEW_TASK else _negated(aggregate))
                        for column, aggregate in self.values)
        return [f"{statement} RETURNING {self.count_column}" for statement in
                replace(self, values=negated).add_statements(recompute=grouped, rows=rows)]

    @property
    def depends_on(self) -> frozenset[str]:
        """The cost_log columns this rollup's keys (and where) are computed from."""
        text = " ".join([*(expr for _, expr in self.keys), self.where])
        return frozenset(ROW_SOURCES[name] for name in re.findall(r"\br\.(\w+)", text)
                         if ROW_SOURCES[name] is not None)

    @property
    def count_column(self) -> str | None:
        """The column counting a key's rows: 0 means the key holds nothing."""
        for column in ("events", "turn_count"):
            if column in self.value_columns:
                return column
        return None

    def prune_statements(self, rows: str = STAGED_ROWS_TABLE) -> list[str]:
        """DELETEs of the keys of ``rows`` left holding no row after a subtraction: a key a
        correction emptied reads as absent, as in a recomputation (no zero rows in a
        breakdown)."""
        if self.count_column is None:
            return []
        return [
            f"DELETE FROM {self.table} WHERE {self.count_column} = 0"
            f" AND ({', '.join(self.key_columns)}) IN (SELECT DISTINCT"
            f" {', '.join(self._key_exprs(project))} FROM {self._source(rows)} AS r"
            f" WHERE {self.where})"
            for project in self.project_exprs()
        ]

    def expected(self, rows: str = COST_LOG_ROWS) -> str:
        """Keys and values as recomputed from all of cost_log (for ``aggregates check``)."""
        stripped = Rollup(self.table, self.keys, self.since, self.values, self.where,
                          self.all_projects, by_offset=self.by_offset)
        return " UNION ALL ".join(stripped.select(p, rows=rows) for p in self.project_exprs())


#: The registered UTC offsets of local days (minutes east of UTC; ``costlog local-days``).
LOCAL_DAY_OFFSETS = "local_day_offsets"
#: The zones whose offsets those are.
LOCAL_DAY_ZONES = "local_day_zones"
#: Rows (a ROW_COLUMNS table or subquery) once per registered offset, with that offset and the
#: day their quarter hour falls on at it. Offsets are whole quarter hours, so the quarter's
#: first minute is on the same local day as the row. With no offset registered, no rows.
LOCAL_DAY_ROWS = (
    "(SELECT r0.*, o.utc_offset AS utc_offset, strftime('%Y-%m-%d',"
    " CAST(strftime('%s', r0.quarter) AS INTEGER) + o.utc_offset * 60, 'unixepoch')"
    f" AS local_day FROM {{rows}} AS r0 CROSS JOIN {LOCAL_DAY_OFFSETS} AS o)"
)
_OFFSET = ("utc_offset", "r.utc_offset")
_LOCAL_DAY = ("day", "r.local_day")
_EVERY_PROJECT = ("project_id", f"'{ALL_PROJECTS}'")


#: The summed row columns the all-time totals guard (see costlog_totals, store/bounds.py).
GUARDED_COLUMNS = ("cost_nanos", "tokens", "input_tokens", "output_tokens", "cache_tokens")

ROLLUPS: tuple[Rollup, ...] = (
    # The all-time totals of magnitudes: every other sum is a part of them (migration 011).
    Rollup(
        "costlog_totals", since=11,
        keys=(("scope", "'*'"),),
        values=(*((column, f"SUM(ABS(r.{column}))") for column in GUARDED_COLUMNS),
                ("events", "COUNT(*)")),
    ),
    Rollup(
        "cost_aggregates", since=2,
        keys=TASK_BUCKET_KEYS[:4],
        values=(
            ("total_cost_usd", "SUM(r.cost_usd)"),
            ("total_input_tokens", "SUM(r.input_tokens)"),
            ("total_output_tokens", "SUM(r.output_tokens)"),
            ("total_cache_tokens", "SUM(r.cache_tokens)"),
            ("turn_count", "COUNT(*)"),
            ("task_count", _NEW_TASK),
        ),
        constants=(("created_at", "datetime('now')"),),
        reads=("cost_aggregates_tasks",),
    ),
    # After cost_aggregates, whose task_count reads the keys of the rows before this write.
    # A key table: a write's rows are added one by one, a key already there (or repeated in
    # the write) left as it is; sorting them into groups first cost more (CHANGELOG.md).
    Rollup("cost_aggregates_tasks", since=7, keys=TASK_BUCKET_KEYS, values=(),
           per_row=EACH_PROJECT),
    Rollup(
        "rollup_model_q", since=4, level=TimeLevel("model", QUARTER_QUARTERS),
        keys=(_PROJECT, ("bucket", "r.quarter"), _MODEL),
        all_projects=True,
        per_row=EACH_PROJECT_AND_ALL,
    ),
    Rollup(
        "rollup_phase_q", since=4, level=TimeLevel("phase", QUARTER_QUARTERS),
        keys=(_PROJECT, ("bucket", "r.quarter"), _PHASE),
        all_projects=True,
        per_row=EACH_PROJECT_AND_ALL,
    ),
    Rollup(
        "rollup_model_h", since=6, level=TimeLevel("model", HOUR_QUARTERS),
        keys=(_PROJECT, ("hour", "r.hour"), _MODEL),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    # By phase and hour (migration 013): a day's edges in a time zone read hours, not quarters.
    Rollup(
        "rollup_phase_h", since=13, level=TimeLevel("phase", HOUR_QUARTERS),
        keys=(_PROJECT, ("hour", "r.hour"), _PHASE),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup(
        "rollup_model_d", since=6,
        level=TimeLevel("model", DAY_QUARTERS, local_days="rollup_model_ld"),
        keys=(_PROJECT, _DAY, _MODEL),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup(
        "rollup_phase_d", since=6,
        level=TimeLevel("phase", DAY_QUARTERS, local_days="rollup_phase_ld"),
        keys=(_PROJECT, _DAY, _PHASE),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup("rollup_task_d", since=4, keys=(_PROJECT, _DAY, _TASK)),
    # By UTC month, month first: long task breakdowns across all projects (migration 012).
    Rollup("rollup_task_m", since=12, keys=(_MONTH, _PROJECT, _TASK)),
    Rollup("rollup_task", since=4, keys=(_PROJECT, _TASK)),
    Rollup(
        "rollup_initiative_d", since=4,
        keys=(_PROJECT, _DAY, _INITIATIVE),
        where="r.initiative <> ''",
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup(
        "rollup_initiative", since=4,
        keys=(_INITIATIVE, _PROJECT, _TASK, _MODEL, _PHASE),
        where="r.initiative <> ''",
        per_row=EACH_PROJECT,
    ),
    # Each project's spend by day, six hours and hour, without the model, period first
    # (migration 013): a series split by project reads these, so a New York day costs one range
    # scan per level across all projects rather than one per project and level.
    Rollup("rollup_project_d", since=13,
           level=TimeLevel("project", DAY_QUARTERS, local_days="rollup_project_ld"),
           keys=(_DAY, _PROJECT), per_row=EACH_PROJECT),
    Rollup("rollup_project_6h", since=13, level=TimeLevel("project", SIX_HOURS_QUARTERS),
           keys=(("hour", "r.six_hours"), _PROJECT), per_row=EACH_PROJECT),
    Rollup("rollup_project_h", since=13, level=TimeLevel("project", HOUR_QUARTERS),
           keys=(("hour", "r.hour"), _PROJECT), per_row=EACH_PROJECT),
    # All-time totals per project: the list of projects, and the projects a breakdown or a
    # series by project reads (each then a primary-key range scan of its own).
    Rollup("rollup_project", since=9, keys=(_PROJECT,)),
    Rollup(
        "rollup_model_id_d", since=9,
        keys=(_PROJECT, _DAY, _PROVIDER, _MODEL_ID),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    # By local day at each registered offset (migration 014): a series of days in a zone
    # whose offsets are registered reads a row per day; by model and phase across all
    # projects only.
    Rollup("rollup_project_ld", since=14, keys=(_OFFSET, _LOCAL_DAY, _PROJECT), by_offset=True,
           reads=(LOCAL_DAY_OFFSETS,), per_row=EACH_PROJECT),
    Rollup("rollup_model_ld", since=14, keys=(_EVERY_PROJECT, _OFFSET, _LOCAL_DAY, _MODEL),
           by_offset=True, reads=(LOCAL_DAY_OFFSETS,), per_row=EACH_PROJECT),
    Rollup("rollup_phase_ld", since=14, keys=(_EVERY_PROJECT, _OFFSET, _LOCAL_DAY, _PHASE),
           by_offset=True, reads=(LOCAL_DAY_OFFSETS,), per_row=EACH_PROJECT),
)

#: A write's new rows, or a correction's old ones (see STAGED_ROWS_TABLE).
STAGED_ROWS = STAGED_ROWS_TABLE
CREATE_STAGED_ROWS = (
    f"CREATE TABLE IF NOT EXISTS {STAGED_ROWS} ({', '.join(name for name, _ in ROW_COLUMNS)})"
)
STAGE_ROWS = f"INSERT INTO {STAGED_ROWS} SELECT * FROM {COST_LOG_ROWS}"
CLEAR_STAGED_ROWS = f"DELETE FROM {STAGED_ROWS}"
#: The live rows of the event ids ``:ids`` staged: the versions a correction takes out.
STAGE_EVENT_ROWS = f"INSERT INTO {STAGED_ROWS} SELECT * FROM {EVENT_ROWS} AS staged"

#: Every rollup's additive upserts of the staged rows, in order: built once, since each write
#: runs all of them (building the text anew would be a large part of a single-event job).
ADD_STATEMENTS: tuple[str, ...] = tuple(
    statement for rollup in ROLLUPS for statement in rollup.add_statements(rows=STAGED_ROWS)
)

#: Every rollup's subtraction of the staged rows (row by row as its additions are), with the
#: deletion of the keys it may leave empty and the cost_log columns those keys are computed
#: from: a correction that changes none of them refills the keys it emptied.
SUBTRACTIONS: tuple[tuple[str, str, frozenset[str]], ...] = tuple(
    (subtract, prune, rollup.depends_on) for rollup in ROLLUPS
    for subtract, prune in zip(rollup.subtract_statements(), rollup.prune_statements(),
                               strict=True))
SUBTRACT_STATEMENTS = tuple(subtract for subtract, _, _ in SUBTRACTIONS)
#: The columns the task keys (TASK_KEYS_GONE) are computed from.
TASK_KEY_SOURCES = frozenset(ROW_SOURCES[expr[2:]] for _, expr in TASK_BUCKET_KEYS)
#: The task keys (cost_aggregates_tasks) of the staged rows that no live row of cost_log holds
#: any more, deleted; each one is a task fewer in its cost_aggregates bucket.
TASK_KEYS_GONE = (
    "DELETE FROM cost_aggregates_tasks WHERE (project_id, model, phase, date, task_id) IN"
    f" (SELECT DISTINCT {', '.join(expr for _, expr in TASK_BUCKET_KEYS)} FROM {STAGED_ROWS}"
    " AS r WHERE r.task_id IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM cost_log AS n WHERE"
    " n.project_id = cost_aggregates_tasks.project_id"
    " AND n.task_id = cost_aggregates_tasks.task_id"
    # The day as a range of the (project_id, timestamp) index too: a probe of that day's rows.
    " AND n.timestamp >= cost_aggregates_tasks.date"
    " AND n.timestamp < cost_aggregates_tasks.date || '~'"
    f" AND {MODEL} = cost_aggregates_tasks.model AND {PHASE} = cost_aggregates_tasks.phase"
    f" AND {DAY} = cost_aggregates_tasks.date AND {LIVE})"
    " RETURNING project_id, model, phase, date"
)
TASK_GONE = ("UPDATE cost_aggregates SET task_count = task_count - 1"
             " WHERE project_id = ? AND model = ? AND phase = ? AND date = ?")
