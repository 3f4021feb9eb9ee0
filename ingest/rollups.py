"""Rollup definitions: each rollup is data, and one SQL template serves every path.

The same ``INSERT … SELECT … FROM cost_log WHERE id > :lo AND id <= :hi … ON CONFLICT DO UPDATE``
adds a write's new rows (the store), back-fills after a migration and rebuilds (``lo = 0``), so
the live path and the recomputation can never disagree about what a key or a value is.
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
# cost_aggregates.task_count grows by one when the task has no earlier row in the bucket.
_NEW_TASK = (
    "COUNT(DISTINCT CASE WHEN NOT EXISTS (SELECT 1 FROM cost_log AS o WHERE o.id <= :lo"
    " AND o.project_id IS n.project_id AND o.task_id IS n.task_id"
    " AND COALESCE(o.phase, '') = " + PHASE
    + " AND substr(o.timestamp, 1, 10) = " + DAY
    + " AND " + MODEL.replace("n.", "o.") + " = " + MODEL
    + ") THEN n.task_id END)"
)


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

    @property
    def key_columns(self) -> list[str]:
        return [column for column, _ in self.keys]

    @property
    def value_columns(self) -> list[str]:
        return [column for column, _ in self.values]

    def select(self, project_expr: str | None = None) -> str:
        """The aggregate SELECT over cost_log rows with ``:lo < id <= :hi``."""
        keys = [
            (project_expr if column == "project_id" and project_expr else expr)
            for column, expr in self.keys
        ]
        exprs = keys + [expr for _, expr in self.values] + [e for _, e in self.constants]
        group = ", ".join(str(i + 1) for i in range(len(keys)))
        return (
            f"SELECT {', '.join(exprs)} FROM cost_log AS n"
            f" WHERE n.id > :lo AND n.id <= :hi AND ({self.where}) GROUP BY {group}"
        )

    def project_exprs(self) -> list[str | None]:
        return [None, "'*'"] if self.all_projects else [None]

    def add_statements(self) -> list[str]:
        """Additive upserts: the rows in (lo, hi] are added into the existing sums."""
        columns = self.key_columns + self.value_columns + [c for c, _ in self.constants]
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in self.value_columns)
        return [
            f"INSERT INTO {self.table} ({', '.join(columns)}) {self.select(project)}"
            f" ON CONFLICT({', '.join(self.key_columns)}) DO UPDATE SET {updates}"
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
    ),
    Rollup(
        "rollup_model_q",
        keys=(("project_id", PROJECT), ("bucket", QUARTER), ("model", MODEL)),
        all_projects=True,
    ),
    Rollup(
        "rollup_phase_q",
        keys=(("project_id", PROJECT), ("bucket", QUARTER), ("phase", PHASE)),
        all_projects=True,
    ),
    Rollup(
        "rollup_model_h",
        keys=(("project_id", PROJECT), ("hour", HOUR), ("model", MODEL)),
        all_projects=True,
    ),
    Rollup(
        "rollup_model_d",
        keys=(("project_id", PROJECT), ("day", DAY), ("model", MODEL)),
        all_projects=True,
    ),
    Rollup(
        "rollup_phase_d",
        keys=(("project_id", PROJECT), ("day", DAY), ("phase", PHASE)),
        all_projects=True,
    ),
    Rollup("rollup_task_d", keys=(("project_id", PROJECT), ("day", DAY), ("task_id", TASK))),
    Rollup("rollup_task", keys=(("project_id", PROJECT), ("task_id", TASK))),
    Rollup(
        "rollup_initiative_d",
        keys=(("project_id", PROJECT), ("day", DAY), ("initiative_id", INITIATIVE)),
        where=f"{INITIATIVE} <> ''",
        all_projects=True,
    ),
    Rollup(
        "rollup_initiative",
        keys=(("initiative_id", INITIATIVE), ("project_id", PROJECT), ("task_id", TASK),
              ("model", MODEL), ("phase", PHASE)),
        where=f"{INITIATIVE} <> ''",
    ),
)
