"""``costlog statusline``: one line for Claude Code's status line, from the database directly.

Claude Code runs the command after each message with its status as JSON on standard input
(``session_id``, ``cwd`` or ``workspace.current_dir``, ``model.id``/``model.display_name``) and
shows the first line it prints. The line must come fast and always: this module imports only
what it needs (no click, no sqlite-utils), reads three rollups by their keys, and answers a
short line instead of raising, whatever the input or the database.
"""

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from costlog import clock
from costlog.constants import ALL_PROJECTS, NANOS_PER_USD
from costlog.domain.figures import money
from costlog.settings import Settings, SettingsError
from costlog.store.connection import open_reader

SEPARATOR = " · "
#: The rollup by quarter hour, with every project's sums under ALL_PROJECTS too: a local day's
#: and a month's edges in any zone fall on quarter hours.
QUARTERS = "rollup_model_q"
_QUARTER_FORMAT = "%Y-%m-%d %H:%M"


class Status:
    """What Claude Code said of the session: its id, its project (working folder), its model."""

    def __init__(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        workspace = payload.get("workspace")
        model = payload.get("model")
        model = model if isinstance(model, dict) else {}
        self.session = _text(payload.get("session_id"))
        self.project = _text(payload.get("cwd")) or (
            _text(workspace.get("current_dir")) if isinstance(workspace, dict) else None)
        self.model = _text(model.get("display_name")) or _text(model.get("id")) or "?"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _quarter(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_QUARTER_FORMAT)


def _day_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    day = now.astimezone(tz).date()
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    return start, datetime(following.year, following.month, following.day, tzinfo=tz)


def _month_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    local = now.astimezone(tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return (datetime(local.year, local.month, 1, tzinfo=tz), datetime(year, month, 1, tzinfo=tz))


def _spent(db: Any, project: str, start: datetime, end: datetime) -> int:
    """Nano-USD of ``project`` (ALL_PROJECTS: every project) in ``[start, end)``."""
    (nanos,) = db.execute(
        f"SELECT COALESCE(SUM(cost_nanos), 0) FROM {QUARTERS} WHERE project_id = ?"
        " AND bucket >= ? AND bucket < ?", [project, _quarter(start), _quarter(end)]).fetchone()
    return int(nanos)


def _session_cost(db: Any, status: Status) -> int:
    if status.session is None:
        return 0
    where, params = "task_id = ?", [status.session]
    if status.project is not None:
        where, params = "project_id = ? AND task_id = ?", [status.project, status.session]
    (nanos,) = db.execute(f"SELECT COALESCE(SUM(cost_nanos), 0) FROM rollup_task WHERE {where}",
                          params).fetchone()
    return int(nanos)


def _budget(db: Any, project: str | None) -> tuple[str, float, str] | None:
    """(project, monthly limit, zone) of the project's budget, else of all projects'."""
    for key in (project, ALL_PROJECTS):
        if key is None:
            continue
        row = db.execute("SELECT monthly_limit_usd, timezone FROM cost_budgets"
                         " WHERE project_id = ?", [key]).fetchone()
        if row is not None and (row[0] or 0) > 0:
            return key, float(row[0]), row[1] or ""
    return None


def _zone(name: str, default: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else default
    except (ValueError, OSError, KeyError):
        return default


def line(db: Any, status: Status, tz: ZoneInfo, now: datetime) -> str:
    """The status line of ``status`` from the database ``db``."""
    usd = NANOS_PER_USD
    parts = [status.model, f"session {money(_session_cost(db, status) / usd)}",
             f"today {money(_spent(db, ALL_PROJECTS, *_day_bounds(now, tz)) / usd)}"]
    budget = _budget(db, status.project)
    if budget is not None:
        project, limit, zone = budget
        spent = _spent(db, project, *_month_bounds(now, _zone(zone, tz))) / usd
        parts.append(f"month {money(spent)} of {money(limit)} ({spent / limit * 100:.0f}%)")
    return SEPARATOR.join(parts)


def run(stdin: IO[str], settings: Settings | None = None) -> str:
    """The line to print for the status JSON on ``stdin`` (settings: from the environment by
    default); never raises."""
    try:
        settings = settings or Settings.from_env(only=("db_path", "tz"))
    except SettingsError as error:
        return f"costlog: {error}"
    try:
        status = Status(json.loads(stdin.read() or "null"))
    except (ValueError, UnicodeDecodeError):
        return "costlog: no status (Claude Code's status JSON expected on stdin)"
    try:
        db = open_reader(settings.db_path)
    except FileNotFoundError:
        return f"{status.model}{SEPARATOR}costlog: no database yet"
    except Exception:  # noqa: BLE001
        return f"{status.model}{SEPARATOR}costlog: cannot open the database"
    try:
        return line(db, status, _zone(settings.tz, ZoneInfo("UTC")), clock.now())
    except Exception:  # noqa: BLE001 - not migrated, locked, corrupt: say so in one line
        return f"{status.model}{SEPARATOR}costlog: cannot read the database"
    finally:
        db.close()


def main(settings: Settings | None = None) -> int:
    """Print the line; exit 0 whatever happened."""
    print(run(sys.stdin, settings))
    return 0
