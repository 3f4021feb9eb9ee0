"""The request handlers.

Read handlers are plain functions: Starlette runs them in its thread pool, where blocking
sqlite3 calls belong, each with its own read-only connection. Write handlers are async only to
read the body (bounded by size); their blocking work goes to the thread pool too.
"""

import json
import logging
import math
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api import errors, params
from api.errors import JSON, ApiError
from api.resources import Resources
from api.security import require_write_access
from costlog import clock
from costlog.constants import (
    ALL_PROJECTS,
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_REQUEST,
    NANOS_PER_USD,
    VOID_REASON_MAX,
)
from costlog.domain import export
from costlog.domain.event import CostEvent, InvalidEvent, parse_event
from costlog.store import alerts as store_alerts
from costlog.store import budgets, connection, orchestrator, queries
from costlog.store.write import EventNotFound, LastRevision, void_event
from ingest import alerts as ingest_alerts
from ingest.gate import Gate

log = logging.getLogger("costlog.api")

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: The smallest positive monthly budget: one nano-USD, the precision spend is counted in.
MIN_POSITIVE_LIMIT_USD = 1 / NANOS_PER_USD
MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def resources(request: Request) -> Resources:
    return request.app.state.costlog


# -- reads ---------------------------------------------------------------------------------------


def cost_breakdown(request: Request) -> Response:
    res = resources(request)
    project = params.project(request, res.settings)
    tz = params.zone(request, res.settings)  # calendar months and date-only start/end
    limit = params.limit(request)
    with res.read_db() as db:
        body = queries.breakdown(
            db, by=params.text(request, "by", "model"), period=params.text(request, "period"),
            start=params.text(request, "start"), end=params.text(request, "end"),
            project=project, limit=limit, now=clock.now(), tz=tz,
        )
    return JSON(body)


def cost_timeseries(request: Request) -> Response:
    res = resources(request)
    project = params.project(request, res.settings)
    tz = params.zone(request, res.settings)
    with res.read_db() as db:
        body = queries.timeseries(
            db, granularity=params.text(request, "granularity", "day"),
            start=params.text(request, "start"), end=params.text(request, "end"),
            model=params.text(request, "model") or None, by=params.text(request, "by"),
            project=project, tz=tz, now=clock.now(),
        )
    return JSON(body)


def cost_projects(request: Request) -> Response:
    res = resources(request)
    project = params.project(request, res.settings)
    tz = params.zone(request, res.settings)
    with res.read_db() as db:
        body = queries.projects(db, tz=tz, now=clock.now(), project=project)
    return JSON(body)


def cost_event(request: Request) -> Response:
    res = resources(request)
    with res.read_db() as db:
        body = queries.event(db, request.path_params["event_id"])
    if body is None:
        raise ApiError(404, errors.EVENT_NOT_FOUND)
    return JSON(body)


def cost_export(request: Request) -> Response:
    """Raw rows as CSV or JSON lines, streamed from the cursor a chunk at a time."""
    res = resources(request)
    project = params.project(request, res.settings)
    tz = params.zone(request, res.settings)
    fmt = params.text(request, "format", "csv")
    if fmt not in export.FORMATS:
        raise ApiError(400, errors.INVALID_FORMAT)
    sql, bound = queries.export_query(start=params.text(request, "start"),
                                      end=params.text(request, "end"), project=project, tz=tz)
    # The connection is opened now (503 before any byte is sent) and closed by the stream.
    stack = ExitStack()
    db = stack.enter_context(res.read_db())

    def stream() -> Iterator[bytes]:
        with stack:
            yield from export.chunks(connection.stream(db, sql, bound), fmt)

    return StreamingResponse(stream(), media_type=export.MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="costlog-export.{fmt}"'})


def _status_zone(request: Request, res: Resources) -> tuple[ZoneInfo | None, ZoneInfo]:
    """(``tz`` when given, else None: the budget's own zone), and the zone of no budget."""
    default = params.load_zone(res.settings.tz)
    return (params.zone(request, res.settings) if "tz" in request.query_params else None,
            default)


def cost_budget(request: Request) -> Response:
    res = resources(request)
    project = params.project(request, res.settings)
    tz, default = _status_zone(request, res)
    with res.read_db() as db:
        body = budgets.budget_status(db, project=project, tz=tz, now=clock.now(),
                                     default_tz=default)
    return JSON(body)


def budget_check(request: Request) -> Response:
    """The gate's answer for ``project`` (as ``ingest.budget_allows``), and the budgets that
    apply to it."""
    res = resources(request)
    project = params.project(request, res.settings) or ALL_PROJECTS
    tz, default = _status_zone(request, res)
    allowed, reason = Gate(res.redis, res.settings.queue_name).allows(project)
    with res.read_db() as db:
        statuses = [budgets.budget_status(db, project=None if name == ALL_PROJECTS else name,
                                          tz=tz, now=clock.now(), default_tz=default)
                    for name in dict.fromkeys((project, ALL_PROJECTS))
                    if budgets.get_budget(db, name) is not None]
    return JSON({"allowed": allowed, "reason": reason, "budgets": statuses})


def cost_alerts(request: Request) -> Response:
    res = resources(request)
    raw = request.query_params.get("project", res.settings.project)
    if raw == "":
        raise ApiError(400, errors.INVALID_PROJECT)
    params.zone(request, res.settings)  # validated on every read endpoint
    month = request.query_params.get("month")
    if month is not None and not MONTH_RE.fullmatch(month):
        raise ApiError(400, errors.INVALID_MONTH)
    with res.read_db() as db:
        body = store_alerts.list_alerts(db, project=raw, month=month)
    return JSON({"alerts": body})


def initiative_cost(request: Request) -> Response:
    res = resources(request)
    project = params.project(request, res.settings)
    tz = params.zone(request, res.settings)
    initiative_id = request.path_params["id"]
    with res.read_db() as db:
        body = queries.initiative_cost(
            db, initiative_id, project=project, period=params.text(request, "period"),
            start=params.text(request, "start"), end=params.text(request, "end"), tz=tz,
            now=clock.now())
    if body is None:
        raise ApiError(404, errors.INITIATIVE_NOT_FOUND)
    return JSON(body)


# -- writes --------------------------------------------------------------------------------------


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, at most ``limit`` bytes: 413 from Content-Length first, then while reading."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, errors.INVALID_BODY.format("invalid Content-Length")) from None
        if size > limit:
            raise ApiError(413, errors.BODY_TOO_LARGE)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise ApiError(413, errors.BODY_TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """The decoded body or 400 ``invalid request body: <reason>``."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        reason = f"{error.msg} (line {error.lineno}, column {error.colno})"
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    except RecursionError:
        reason = "nested too deeply"
    except ValueError:
        reason = "number out of range"
    raise ApiError(400, errors.INVALID_BODY.format(reason))


def _limit_value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, errors.LIMIT_NOT_A_NUMBER)
    try:
        number = float(value)
    except OverflowError:
        raise ApiError(400, errors.NEGATIVE_LIMIT) from None
    if not math.isfinite(number) or number < 0:
        raise ApiError(400, errors.NEGATIVE_LIMIT)
    # Spend is counted in nano-USD. A smaller positive limit (5e-324) made percent_used
    # overflow to Infinity, which has no JSON: this PUT and every later GET answered 500.
    if 0 < number < MIN_POSITIVE_LIMIT_USD:
        raise ApiError(400, errors.TINY_LIMIT)
    return number


def _threshold_value(value: Any) -> int:
    """An integer percent; an integral number (``74.0``, as many JSON encoders write 74) is one."""
    if value is None:
        return budgets.DEFAULT_ALERT_THRESHOLD
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, errors.THRESHOLD_NOT_AN_INTEGER)
    if not 0 <= value <= 100:
        raise ApiError(400, errors.BAD_THRESHOLD)
    return value or budgets.DEFAULT_ALERT_THRESHOLD


def _timezone_value(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, errors.BAD_TIMEZONE)
    try:
        return params.load_zone(value).key
    except ApiError:
        raise ApiError(400, errors.BAD_TIMEZONE) from None


def _hard_limit_value(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, errors.BAD_HARD_LIMIT)
    return value


@dataclass(frozen=True)
class BudgetRequest:
    limit: float
    threshold: int
    timezone: str | None  # None: keep the budget's own (COSTLOG_TZ for a new one)
    hard_limit: bool | None  # None: keep the budget's own (false for a new one)


def budget_request(payload: Any) -> BudgetRequest:
    """The fields of a PUT body, or 400 naming the field."""
    if not isinstance(payload, dict):
        raise ApiError(400, errors.INVALID_BODY.format("expected a JSON object"))
    if payload.get("monthly_limit_usd") is None:
        raise ApiError(400, errors.INVALID_BODY.format("monthly_limit_usd is required"))
    return BudgetRequest(_limit_value(payload["monthly_limit_usd"]),
                         _threshold_value(payload.get("alert_threshold_percent")),
                         _timezone_value(payload.get("timezone")),
                         _hard_limit_value(payload.get("hard_limit")))


async def update_cost_budget(request: Request) -> Response:
    res = resources(request)
    require_write_access(request, res.settings)
    project = params.project(request, res.settings)
    tz, default = _status_zone(request, res)
    body = budget_request(decode_json(await read_body(request)))
    name = project or ALL_PROJECTS

    def write() -> dict[str, Any]:
        with res.write_db() as db:
            timezone = body.timezone
            if timezone is None and budgets.get_budget(db, project) is None:
                timezone = default.key  # a new budget's months: COSTLOG_TZ, else UTC
            decision = orchestrator.set_budget(db, name, body.limit, body.threshold,
                                               timezone=timezone, hard_limit=body.hard_limit)
            res.after_budget_change(db, decision)
            return budgets.budget_status(db, project=project, tz=tz, now=clock.now())

    status = await run_in_threadpool(write)
    log.info("budget of %r set: limit %s, alert at %s%%, zone %s, hard %s", name, body.limit,
             body.threshold, status["timezone"], status["hard_limit"])
    return JSON(status)


async def test_alert(request: Request) -> Response:
    """Send a ``budget.test`` alert about the project's budget to every webhook now."""
    res = resources(request)
    require_write_access(request, res.settings)
    body = await read_body(request)
    # Sent as JSON like every write; the body, if any, is an empty object.
    if body.strip() and decode_json(body) != {}:
        raise ApiError(400, errors.INVALID_BODY.format("expected an empty JSON object"))
    project = params.project(request, res.settings)
    default = params.load_zone(res.settings.tz)

    def send() -> list[dict[str, Any]]:
        with res.read_db() as db:
            status = budgets.budget_status(db, project=project, tz=None, now=clock.now(),
                                           default_tz=default)
        return ingest_alerts.send_test(res.settings, status)

    return JSON({"results": await run_in_threadpool(send)})


#: How many reasons the message of an all-refused array names (every one is in ``rejected``).
REASONS_IN_MESSAGE = 3


def _refused_message(rejected: list[dict[str, Any]], *, single: bool) -> str:
    if single:
        return rejected[0]["error"]
    shown = "; ".join(f"[{item['index']}] {item['error']}"
                      for item in rejected[:REASONS_IN_MESSAGE])
    more = len(rejected) - REASONS_IN_MESSAGE
    return errors.ALL_REFUSED.format(shown + (f"; and {more} more" if more > 0 else ""))


def validate_events(payload: Any) -> tuple[list[CostEvent], list[dict[str, Any]]]:
    """Valid events and per-item rejections ``{"index", "error"}``; 400/413 for the whole body,
    and 400 when every event is refused (the reasons in the message and in ``rejected``)."""
    if isinstance(payload, dict):
        items = [payload]
    elif isinstance(payload, list):
        if len(payload) > MAX_EVENTS_PER_REQUEST:
            raise ApiError(413, errors.TOO_MANY_EVENTS.format(MAX_EVENTS_PER_REQUEST))
        items = payload
    else:
        raise ApiError(400, errors.INVALID_BODY.format(
            "expected an event object or an array of events"))
    now = clock.now()
    valid: list[CostEvent] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            valid.append(parse_event(item, now=now, fill_id="hash"))
        except InvalidEvent as error:
            rejected.append({"index": index, "error": str(error)})
    if rejected and not valid:
        raise ApiError(400, _refused_message(rejected, single=isinstance(payload, dict)),
                       body={"accepted": 0, "ids": [], "rejected": rejected})
    return valid, rejected


async def enqueue(res: Resources, events: list[CostEvent]) -> list[str]:
    """Put validated events on the queue (spooled when Redis is down): their ids, in order.

    503 when neither can take them (no Redis configured, or Redis down and the spool
    unwritable): the client keeps its events and sends them again.
    """
    if not events:
        return []
    publisher = res.publisher
    if publisher is None:
        log.error("no Redis URL configured: cannot enqueue %d events", len(events))
        raise ApiError(503, errors.QUEUE_UNAVAILABLE)
    try:
        result = await run_in_threadpool(publisher.publish_events, events)
    except Exception as error:  # noqa: BLE001 - e.g. an unwritable spool: not the client's
        log.error("publishing %d events failed: %s", len(events), type(error).__name__)
        raise ApiError(503, errors.QUEUE_UNAVAILABLE) from None
    if result.spooled:
        log.warning("redis unavailable: %d events spooled", len(result.ids))
    return list(result.ids)


async def post_cost_events(request: Request) -> Response:
    res = resources(request)
    require_write_access(request, res.settings)
    try:
        valid, rejected = validate_events(decode_json(await read_body(request)))
    except ApiError as error:
        if error.body is not None:
            res.metrics.rejected(len(error.body["rejected"]))
        raise
    if rejected:
        res.metrics.rejected(len(rejected))
    ids = await enqueue(res, valid)
    return JSON({"accepted": len(ids), "ids": ids, "rejected": rejected}, status_code=202)


def void_reason(payload: Any) -> str:
    """The ``reason`` of a void's body ``{"reason": "…"}``, or 400 naming what is wrong."""
    if not isinstance(payload, dict):
        raise ApiError(400, errors.INVALID_BODY.format("expected a JSON object"))
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > VOID_REASON_MAX \
            or "\x00" in reason:
        raise ApiError(400, errors.VOID_REASON.format(VOID_REASON_MAX))
    return reason


async def void_cost_event(request: Request) -> Response:
    """Record the next revision of an event as void. Written here, not queued: the answer
    says whether the event exists (404), and the write is one row."""
    res = resources(request)
    require_write_access(request, res.settings)
    reason = void_reason(decode_json(await read_body(request)))
    event_id = request.path_params["event_id"]

    def write() -> dict[str, Any] | None:
        with res.write_db() as db:
            try:
                result = void_event(db, event_id, reason, clock.now())
            except EventNotFound:
                return None
            except LastRevision as error:
                raise ApiError(409, str(error)) from None
            if result.changed:
                res.after_budget_change(db, result.decision)
            return queries.event(db, event_id)

    body = await run_in_threadpool(write)
    if body is None:
        raise ApiError(404, errors.EVENT_NOT_FOUND)
    log.info("event %r voided at revision %d", event_id, body["revision"])
    return JSON(body)


# -- operations ----------------------------------------------------------------------------------


def healthz(request: Request) -> Response:
    res = resources(request)
    stored = res.stored_counters()
    database_ok = stored is not None
    queue = res.queue_state()
    write_errors = [entry.to_json() for entry in queue.write_errors] if queue else []
    # Degraded: the queue cannot be reached, or workers cannot write (disk full, read-only).
    healthy = queue is not None and not write_errors
    body = {
        "status": ("ok" if healthy else "degraded") if database_ok else "unavailable",
        "database": {"ok": database_ok},
        "writes": {"ok": None if queue is None else not write_errors, "errors": write_errors},
        "redis": {"ok": queue is not None, "configured": res.settings.redis_url is not None},
        "queue": {
            "name": res.settings.queue_name,
            "depth": None if queue is None else queue.depth,
            "retrying": None if queue is None else queue.retrying,
            "failed_jobs": None if queue is None else queue.failed_jobs,
        },
        # Recorded at 0 USD for want of a price: the dashboard shows them beside the queue.
        "events": {"unpriced": _unpriced_events(res)},
        "spool": {"pending": _spool_pending(res)},
        # Deliveries pending (queued or retrying) and failed (gave up); alerts not yet queued.
        "alerts": None if stored is None or stored.alerts is None else {
            key: stored.alerts[key] for key in ("fired", "pending", "failed", "unqueued")},
    }
    return JSON(body, status_code=200 if database_ok else 503)


def _unpriced_events(res: Resources) -> int | None:
    try:
        with res.read_db() as db:
            return queries.read_counters(db)["events_unpriced"]
    except ApiError:
        return None


def _spool_pending(res: Resources) -> bool | None:
    from ingest.spool import Spool

    try:
        return Spool(res.settings.spool_dir).has_pending()
    except OSError:
        return None


def metrics(request: Request) -> Response:
    return Response(resources(request).metrics.render(), media_type=METRICS_CONTENT_TYPE)


def openapi(request: Request) -> Response:
    return JSON(request.app.state.openapi)
