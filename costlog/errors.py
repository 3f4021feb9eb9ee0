"""costlog's own errors share one base, and every text a client or user reads is defined once.

``except CostlogError`` catches any failure costlog raises on purpose (bad input, a missing
server, an unreadable database), and none of Python's own. Each class also keeps the built-in
base it has always had (``ValueError`` for bad input, ``RuntimeError`` for a missing resource),
so callers that catch those go on working.

The messages here are shared by the store and the API (which answers them as
``{"error": message}``); the API's own, about HTTP alone, are in ``api/errors.py``.
"""


class CostlogError(Exception):
    """The base of every exception costlog defines."""


# Read parameters the store checks (answered 400 by the API, printed by the CLI).
INVALID_BY = ("invalid 'by' parameter: use model, phase, task, initiative, model_id, provider,"
              " or project")
INVALID_PERIOD = "invalid 'period' parameter: use 24h, 7d, 30d, month, last-month, or all"
INVALID_SERIES_BY = "invalid 'by' parameter: use model, phase, or project"
PHASE_WITH_MODEL = "invalid 'by' parameter: by=phase cannot be combined with model"
PERIOD_AND_RANGE = "invalid range: use either period or start/end"
DATES_OUT_OF_RANGE = "invalid range: dates out of range"
START_AFTER_END = "invalid range: start is after end"
INVALID_GRANULARITY = "invalid granularity: use hour, day, week, or month"

# Budgets, whether set through the API or the orchestrator's operations.
NEGATIVE_LIMIT = "monthly_limit_usd must be non-negative"
BAD_THRESHOLD = "alert_threshold_percent must be between 0 and 100"
