"""Rollup definitions: each rollup is data, and one SQL template serves every path.

The same ``INSERT … SELECT … FROM cost_log WHERE id > :lo AND id <= :hi … ON CONFLICT DO UPDATE``
adds a write's new rows (the store), back-fills after a migration and rebuilds (``lo = 0``), so
the live path and the recomputation can never disagree about what a key or a value is (the
store's statements may add the rows one by one rather than grouped: ``Rollup.per_row``).
"""

from dataclasses import dataclass

# Row expressions over cost_log (alias ``n``). Keys never hold NULL: SQLite treats NULLs as
# distinct in UNIQUE constraints, which would add a new rollup row on every upsert.
PROJECT = "COALESCE(n.project_id, '')"
TASK = "COALESCE(n.task_id, '')"
PHASE = "COALESCE(n.phase, '')"
MODEL = "CASE WHEN COALESCE(n.model, '') = '' THEN 'unknown' ELSE n.model END"
INITIATIVE = "COALESCE(n.initiative_id, '')"
DAY = "substr(n.timestamp, 1, 10)"
HOUR = "substr(n.timestamp, 1, 13)"
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
COST_NANOS = "CAST(ROUND(COALESCE(n.cost_usd, 0) * 1e9) AS INTEGER)"
STANDARD_VALUES = (
    ("cost_nanos", f"SUM({COST_NANOS})"),
    ("tokens", f"SUM({TOKENS})"),
    ("events", "COUNT(*)"),
)
# cost_aggregates_tasks (migration 007) holds the keys below for every row in cost_log: which
# tasks each cost_aggregates bucket has seen.
TASK_BUCKET_KEYS = (("project_id", PROJECT), ("model", MODEL), ("phase", PHASE), ("date", DAY),
                    ("task_id", TASK))
# cost_aggregates.task_count grows by one when the task has no earlier row in the bucket. The
# rows up to :lo are the ones in cost_aggregates_tasks (filled with this write's rows only after
# cost_aggregates, see ROLLUPS): a primary-key probe per new row, where a search of the task's
# earlier rows in cost_log grew with them. A recomputation (lo = 0) has no earlier rows.
_NEW_TASK = (
    "COUNT(DISTINCT CASE WHEN :lo = 0 OR NOT EXISTS (SELECT 1 FROM cost_aggregates_tasks AS t"
    f" WHERE {' AND '.join(f't.{column} = {expr}' for column, expr in TASK_BUCKET_KEYS)})"
    " THEN n.task_id END)"
)


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


@dataclass(frozen=True)
class Rollup:
    table: str
    keys: tuple[tuple[str, str], ...]  # (column, expression over cost_log row n)
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
    #: there are rows, an upsert per row costs less than sorting the rows into groups (a 1M
    #: import: 9 of the 17 statements 20-40 % faster, docs/benchmarks.md M1). A recomputation
    #: over all of cost_log always groups.
    per_row: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        if self.per_row:
            for _, aggregate in self.values:
                _row_value(aggregate)  # every value must be additive row by row

    @property
    def key_columns(self) -> list[str]:
        return [column for column, _ in self.keys]

    @property
    def value_columns(self) -> list[str]:
        return [column for column, _ in self.values]

    def select(self, project_expr: str | None = None, *, grouped: bool = True) -> str:
        """The SELECT over cost_log rows with ``:lo < id <= :hi``: one row per key, or with
        ``grouped=False`` one per cost_log row."""
        keys = [
            (project_expr if column == "project_id" and project_expr else expr)
            for column, expr in self.keys
        ]
        values = [expr if grouped else _row_value(expr) for _, expr in self.values]
        exprs = keys + values + [e for _, e in self.constants]
        group = ", ".join(str(i + 1) for i in range(len(keys)))
        return (
            f"SELECT {', '.join(exprs)} FROM cost_log AS n"
            f" WHERE n.id > :lo AND n.id <= :hi AND ({self.where})"
            + (f" GROUP BY {group}" if grouped else "")
        )

    def project_exprs(self) -> list[str | None]:
        return [None, "'*'"] if self.all_projects else [None]

    def add_statements(self, *, recompute: bool = False) -> list[str]:
        """Additive upserts: the rows in (lo, hi] are added into the existing sums (grouped
        first unless ``per_row`` says otherwise; ``recompute``: always grouped).

        A rollup without values is a key table: a key already there is left as it is.
        """
        columns = self.key_columns + self.value_columns + [c for c, _ in self.constants]
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in self.value_columns)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        return [
            f"INSERT INTO {self.table} ({', '.join(columns)})"
            f" {self.select(project, grouped=recompute or project not in self.per_row)}"
            f" ON CONFLICT({', '.join(self.key_columns)}) {action}"
            for project in self.project_exprs()
        ]

    def expected(self) -> str:
        """Keys and values as recomputed from all of cost_log (for ``aggregates check``)."""
        stripped = Rollup(self.table, self.keys, self.values, self.where, self.all_projects)
        return " UNION ALL ".join(stripped.select(p) for p in self.project_exprs())


ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "cost_aggregates",
        keys=(("project_id", PROJECT), ("model", MODEL), ("phase", PHASE), ("date", DAY)),
        values=(
            ("total_cost_usd", "SUM(COALESCE(n.cost_usd, 0))"),
            ("total_input_tokens", "SUM(COALESCE(n.input_tokens, 0))"),
            ("total_output_tokens", "SUM(COALESCE(n.output_tokens, 0))"),
            ("total_cache_tokens",
             "SUM(COALESCE(n.cache_creation_tokens, 0) + COALESCE(n.cache_read_tokens, 0))"),
            ("turn_count", "COUNT(*)"),
            ("task_count", _NEW_TASK),
        ),
        constants=(("created_at", "datetime('now')"),),
        reads=("cost_aggregates_tasks",),
    ),
    # After cost_aggregates, whose task_count reads the keys of the rows before this write.
    Rollup("cost_aggregates_tasks", keys=TASK_BUCKET_KEYS, values=()),
    Rollup(
        "rollup_model_q",
        keys=(("project_id", PROJECT), ("bucket", QUARTER), ("model", MODEL)),
        all_projects=True,
        per_row=EACH_PROJECT_AND_ALL,
    ),
    Rollup(
        "rollup_phase_q",
        keys=(("project_id", PROJECT), ("bucket", QUARTER), ("phase", PHASE)),
        all_projects=True,
        per_row=EACH_PROJECT_AND_ALL,
    ),
    Rollup(
        "rollup_model_h",
        keys=(("project_id", PROJECT), ("hour", HOUR), ("model", MODEL)),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup(
        "rollup_model_d",
        keys=(("project_id", PROJECT), ("day", DAY), ("model", MODEL)),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup(
        "rollup_phase_d",
        keys=(("project_id", PROJECT), ("day", DAY), ("phase", PHASE)),
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup("rollup_task_d", keys=(("project_id", PROJECT), ("day", DAY), ("task_id", TASK))),
    Rollup("rollup_task", keys=(("project_id", PROJECT), ("task_id", TASK))),
    Rollup(
        "rollup_initiative_d",
        keys=(("project_id", PROJECT), ("day", DAY), ("initiative_id", INITIATIVE)),
        where=f"{INITIATIVE} <> ''",
        all_projects=True,
        per_row=EACH_PROJECT,
    ),
    Rollup(
        "rollup_initiative",
        keys=(("initiative_id", INITIATIVE), ("project_id", PROJECT), ("task_id", TASK),
              ("model", MODEL), ("phase", PHASE)),
        where=f"{INITIATIVE} <> ''",
        per_row=EACH_PROJECT,
    ),
)

#: Every rollup's additive upserts, in order: built once, since each write runs all of them
#: (building the text per write cost ~80 µs, a fifth of a single-event job).
ADD_STATEMENTS: tuple[str, ...] = tuple(
    statement for rollup in ROLLUPS for statement in rollup.add_statements()
)
