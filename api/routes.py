"""The routing table, as data: each :class:`Endpoint` makes one Starlette ``Route`` and one
operation of the OpenAPI document, so the two cannot drift apart."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute, Route, request_response
from starlette.types import Receive, Scope, Send

from api import endpoints, otlp, pages
from api.limits import limited
from api.params import IANA_ZONES
from costlog.constants import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_REQUEST,
    OTLP_MAX_BODY_BYTES,
    VOID_REASON_MAX,
)
from costlog.domain import export
from costlog.domain.buckets import DATE_RE
from costlog.domain.event import RFC3339_RE
from costlog.domain.rates import PARTS
from costlog.store import queries
from costlog.store.rollups import TOKEN_KINDS


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # "query" or "path"
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Callable[..., Any]
    operation_id: str
    summary: str
    parameters: tuple[Param, ...] = ()
    request_body: dict[str, Any] | None = None  # JSON schema of the body
    response: dict[str, Any] = field(default_factory=dict)  # JSON schema of the success body
    success: int = 200
    errors: tuple[int, ...] = ()
    write: bool = False  # needs the bearer token / a loopback client
    heavy: bool = False  # a database read: runs under the query limiter (api/limits.py)
    #: The success body's media types (one unless the client picks a format).
    media_types: tuple[str, ...] = ("application/json",)
    #: Error bodies that carry more than ``{"error"}``, by status.
    error_bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: The request body's media types (``request_body`` describes the JSON one).
    request_media_types: tuple[str, ...] = ("application/json",)


PROJECT = Param("project", "query", {"type": "string", "minLength": 1},
                "Project id; default COSTLOG_PROJECT, else all projects ('*' = all projects).")
TZ = Param("tz", "query", {"type": "string", "enum": list(IANA_ZONES),
                          "example": "America/New_York"},
           "IANA time zone name for bucket and month edges ('localtime' and other file names"
           " are not); default COSTLOG_TZ, else UTC.")
#: The forms parse_instant reads: a date (in tz), or RFC 3339 with an offset.
INSTANT = {"type": "string", "pattern": f"{DATE_RE.pattern}|{RFC3339_RE.pattern}",
           # Real dates and times only (not 2026-02-30), as parse_instant reads them.
           "anyOf": [{"format": "date"}, {"format": "date-time"}],
           "examples": ["2026-11-01", "2026-11-01T09:30:00+01:00"]}
READ = (PROJECT, TZ)

_money = {"type": "number"}
_count = {"type": "integer"}
#: The four token kinds every breakdown entry, series point and initiative entry carries.
_kinds = {kind: _count for kind in TOKEN_KINDS}
_amounts = {"cost": _money, "tokens": _count, **_kinds}
_share = {"type": "object", "properties": {**_amounts, "percent": {"type": "number"}}}
_instant = {"type": "string", "format": "date-time"}
_EVENTS_ANSWER = {
    "accepted": {"type": "integer", "minimum": 0},
    "ids": {"type": "array", "items": {"type": "string"}},
    "rejected": {"type": "array", "items": {"type": "object", "required": ["index", "error"],
                                            "properties": {"index": {"type": "integer"},
                                                           "error": {"type": "string"}}}},
}
EVENT_ID = Param("event_id", "path", {"type": "string"}, "The event's id.", required=True)
_EVENT_FIELDS = {
    column: ({"type": "integer"} if column not in export.TEXT_COLUMNS else
             _instant if column == "timestamp" else {"type": "string"})
    for column in (*export.COLUMNS, *export.PRICING_COLUMNS)} | {
    "cost_usd": _money,
    "cost_parts": {"type": ["object", "null"], "required": list(PARTS),
                   "description": "A computed cost's parts in USD (they sum to cost_usd).",
                   "properties": dict.fromkeys(PARTS, _money)},
    "revision": _count, "voided": {
        "type": ["object", "null"], "description": "null, or why and when it was voided.",
        "properties": {"reason": {"type": "string"}, "at": _instant}}}
_RECEIPT = {"type": "object", "properties": _EVENT_FIELDS | {"revisions": {
    "type": "array", "description": "The versions this one superseded, newest first.",
    "items": {"type": "object", "properties": _EVENT_FIELDS | {
        "superseded_at": _instant,
        "superseded_by": {"type": "string", "enum": ["event", "void", "reprice", "import"]}}}}}}
START = Param("start", "query", INSTANT,
              "RFC 3339 with an offset, or YYYY-MM-DD (midnight in tz).")
END = Param("end", "query", INSTANT,
            "RFC 3339 with an offset, or YYYY-MM-DD (the whole of that day in tz).")

PERIOD = Param("period", "query", {"type": "string",
                                  "enum": [*queries.PERIODS, *queries.CALENDAR_PERIODS],
                                  "default": "all"},
               "Rolling window ending now (24h, 7d, 30d), this calendar month in tz to date"
               " (month), the previous one (last-month), or all time. Not with start/end.")

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/api/cost/breakdown", endpoints.cost_breakdown, "getCostBreakdown",
        "Cost, tokens and share per model, phase, task, initiative, raw model id, provider or"
        " project over a rolling window, a calendar month or any range.",
        parameters=(
            Param("by", "query", {"type": "string", "enum": list(queries.BREAKDOWN_DIMENSIONS),
                                  "default": "model"},
                  "Dimension; by=task across all projects keys are '<project_id>/<task_id>'."),
            PERIOD, START, END,
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
                  "Keep the top keys by cost; the rest are summed in 'other'."),
            *READ,
        ),
        response={"type": "object", "required": ["period", "total_cost_usd", "breakdown"],
                  "properties": {
                      "period": {"type": "string"}, "start": _instant, "end": _instant,
                      "total_cost_usd": _money,
                      "breakdown": {"type": "object", "additionalProperties": _share},
                      "other": {"type": "object", "properties": {
                          **_share["properties"], "count": {"type": "integer"}}}}},
        errors=(400, 503),
        heavy=True,
    ),
    Endpoint(
        "GET", "/api/cost/timeseries", endpoints.cost_timeseries, "getCostTimeseries",
        "Gap-filled cost and tokens per hour, day, ISO week or month in a time zone.",
        parameters=(
            Param("granularity", "query", {"type": "string", "enum": ["hour", "day", "week",
                                                                      "month"],
                                           "default": "day"}, "Bucket size."),
            START, END,
            Param("model", "query", {"type": "string"},
                  "Only this model family (an unknown one gives zeros)."),
            Param("by", "query", {"type": "string", "enum": list(queries.SERIES_DIMENSIONS)},
                  "Split each point's cost by model family, phase or project ('breakdown')."),
            *READ,
        ),
        response={"type": "object", "required": ["start", "end", "granularity", "series"],
                  "properties": {
                      "start": {"type": "string"}, "end": {"type": "string"},
                      "granularity": {"type": "string"},
                      "series": {"type": "array", "items": {"type": "object", "properties": {
                          "date": {"type": "string"}, "start": _instant, **_amounts,
                          "model": {"type": "string"},
                          "breakdown": {"type": "object",
                                        "additionalProperties": _money}}}}}},
        errors=(400, 503),
        heavy=True,
    ),
    Endpoint(
        "GET", "/api/cost/budget", endpoints.cost_budget, "getCostBudget",
        "Month-to-date spend in tz against the monthly budget, with a projection.",
        parameters=READ,
        response={"$ref": "#/components/schemas/BudgetStatus"},
        errors=(400, 503),
        heavy=True,
    ),
    Endpoint(
        "PUT", "/api/cost/budget", endpoints.update_cost_budget, "updateCostBudget",
        "Set the monthly budget of a project (or of all projects) and return its status.",
        parameters=READ,
        request_body={"type": "object", "required": ["monthly_limit_usd"], "properties": {
            # 0: no budget; else at least one nano-USD (api.endpoints.MIN_POSITIVE_LIMIT_USD).
            "monthly_limit_usd": {"type": "number", "minimum": 0,
                                  "anyOf": [{"const": 0}, {"minimum": 1e-9}]},
            # null, like absent or 0, means the default.
            "alert_threshold_percent": {"type": ["integer", "null"], "minimum": 0,
                                        "maximum": 100, "default": 80},
            "timezone": {"type": ["string", "null"], "example": "Europe/Berlin",
                         "description": "IANA zone of the budget's months; omitted: kept"
                                        " (a new budget: COSTLOG_TZ, else UTC)."},
            "hard_limit": {"type": ["boolean", "null"],
                           "description": "Close the budget gate once spent > limit;"
                                          " omitted: kept (a new budget: false)."}}},
        response={"$ref": "#/components/schemas/BudgetStatus"},
        errors=(400, 401, 403, 413, 415, 503),
        write=True,
    ),
    Endpoint(
        "GET", "/api/cost/budget/check", endpoints.budget_check, "checkCostBudget",
        "The budget gate: may a task of this project start? Fails open with a reason.",
        parameters=(PROJECT, Param("tz", "query", TZ.schema,
                                   "IANA zone of the budgets' statuses; default each budget's"
                                   " own zone (the gate always uses it).")),
        response={"type": "object", "required": ["allowed", "reason", "budgets"],
                  "properties": {
                      "allowed": {"type": "boolean"},
                      "reason": {"type": ["string", "null"]},
                      "budgets": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/BudgetStatus"}}}},
        errors=(400, 503),
    ),
    Endpoint(
        "GET", "/api/cost/alerts", endpoints.cost_alerts, "getCostAlerts",
        "Budget alerts fired, newest first, with each webhook delivery's state.",
        parameters=(
            Param("project", "query", {"type": "string", "minLength": 1},
                  "Only this budget's alerts ('*': the all-projects budget); default"
                  " COSTLOG_PROJECT, else every budget."),
            Param("month", "query", {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
                  "Only alerts of this month (YYYY-MM, in the budget's zone)."),
            Param("tz", "query", TZ.schema,
                  "Validated like every read's; an alert's month is its budget's own."),
        ),
        response={"type": "object", "required": ["alerts"], "properties": {
            "alerts": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string", "example": "budget.threshold:alpha:2026-12"},
                "type": {"type": "string", "enum": ["budget.threshold", "budget.exceeded"]},
                "project": {"type": "string"}, "month": {"type": "string"},
                "fired_at": {"type": "string"}, "percent_used": {"type": "number"},
                "spent_usd": _money, "limit_usd": _money,
                "deliveries": {"type": "array", "items": {"type": "object", "properties": {
                    "url": {"type": "string", "description": "Without credentials or query."},
                    "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                    "attempts": {"type": "integer"},
                    "last_error": {"type": ["string", "null"]},
                    "delivered_at": {"type": ["string", "null"]}}}}}}}}},
        errors=(400, 503),
    ),
    Endpoint(
        "POST", "/api/cost/alerts/test", endpoints.test_alert, "testCostAlert",
        "Send a budget.test alert about the project's budget to every webhook now.",
        parameters=(PROJECT,),
        # Like every write, it is sent as JSON (an empty object): browsers cannot send it
        # cross-site without a CORS preflight.
        request_body={"type": "object", "properties": {}, "additionalProperties": False},
        response={"type": "object", "required": ["results"], "properties": {
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "url": {"type": "string"}, "delivered": {"type": "boolean"},
                "error": {"type": ["string", "null"]}}}}}},
        errors=(400, 401, 403, 415, 503),
        write=True,
    ),
    Endpoint(
        # ":path": initiative ids may hold '/' (sent as %2F).
        "GET", "/api/initiatives/{id:path}/cost", endpoints.initiative_cost, "getInitiativeCost",
        "One initiative's cost by task, model family and phase, over all time, a period or a"
        " range (as the breakdown reads them).",
        parameters=(Param("id", "path", {"type": "string"}, "Initiative id.", required=True),
                    PERIOD, START, END, *READ),
        response={"type": "object", "properties": {
            "initiative_id": {"type": "string"}, "period": {"type": "string"},
            "start": _instant, "end": _instant, "total_cost_usd": _money,
            "total_tokens": _count, **_kinds,
            "by_task": {"type": "array", "items": {"type": "object", "properties": {
                "task_id": {"type": "string"}, "project_id": {"type": "string"},
                **_amounts}}},
            "by_model": {"type": "object", "additionalProperties": _money},
            "by_phase": {"type": "object", "additionalProperties": _money}}},
        errors=(400, 404, 503),
        heavy=True,
    ),
    Endpoint(
        "GET", "/api/cost/projects", endpoints.cost_projects, "getCostProjects",
        "Every project (or the one named) with its totals, first and last event and"
        " month-to-date spend in tz, by total cost descending.",
        parameters=READ,
        response={"type": "object", "required": ["projects"], "properties": {
            "projects": {"type": "array", "items": {"type": "object", "properties": {
                "project_id": {"type": "string"}, "total_cost_usd": _money,
                "total_tokens": _count, **_kinds, "events": _count,
                "first_event": _instant, "last_event": _instant,
                "month_to_date_usd": _money, "unpriced_events": _count}}}}},
        errors=(400, 503),
        heavy=True,
    ),
    Endpoint(
        "GET", "/api/cost/events/{event_id}", endpoints.cost_event, "getCostEvent",
        "One recorded event as stored (its receipt): every field, the model family, the raw"
        " model id, the cost source and, for a computed cost, the price source and the cost's"
        " parts in USD (they sum to cost_usd); timestamp in UTC; its revision, whether it is"
        " void, and the versions it superseded (newest first).",
        parameters=(EVENT_ID,),
        response=_RECEIPT,
        errors=(404, 503),
    ),
    Endpoint(
        "POST", "/api/cost/events/{event_id}/void", endpoints.void_cost_event, "voidCostEvent",
        "Record the next revision of the event as void: it leaves every figure, its row and"
        " history stay (answered with its receipt). Voiding a void changes nothing; a later"
        " event with a higher revision brings it back. Written at once, not queued.",
        parameters=(EVENT_ID,),
        request_body={"type": "object", "required": ["reason"], "properties": {
            "reason": {"type": "string", "minLength": 1, "maxLength": VOID_REASON_MAX}}},
        response=_RECEIPT,
        errors=(400, 401, 403, 404, 409, 413, 415, 503),
        write=True,
    ),
    Endpoint(
        "GET", "/api/cost/export", endpoints.cost_export, "getCostExport",
        "Raw rows as CSV or JSON lines, streamed, ordered by timestamp then event_id (default:"
        " all time, all projects). CSV header: " + export.CSV_HEADER + "; text cells starting"
        " with = + - @ tab or CR get a leading ' (spreadsheet formulas).",
        parameters=(
            Param("format", "query", {"type": "string", "enum": list(export.FORMATS),
                                      "default": "csv"}, "csv or jsonl (one event per line)."),
            START, END, *READ,
        ),
        response={"type": "string"},
        errors=(400, 503),
        media_types=tuple(media.split(";")[0] for media in export.MEDIA_TYPES.values()),
    ),
    Endpoint(
        "POST", "/api/cost/events", endpoints.post_cost_events, "postCostEvents",
        f"Enqueue one cost event or an array of at most {MAX_EVENTS_PER_REQUEST}"
        f" (body at most {MAX_BODY_BYTES} bytes); invalid items are rejected one by one.",
        request_body={"oneOf": [{"$ref": "#/components/schemas/CostEvent"},
                                {"type": "array", "maxItems": MAX_EVENTS_PER_REQUEST,
                                 "items": {"$ref": "#/components/schemas/CostEvent"}}]},
        response={"type": "object", "required": ["accepted", "ids", "rejected"],
                  "properties": _EVENTS_ANSWER},
        success=202,
        errors=(400, 401, 403, 413, 415, 503),
        write=True,
        error_bodies={400: {
            "type": "object", "required": ["error"],
            "description": "A body that is no JSON, or one whose every event is refused: then"
                           " also accepted (0), ids ([]) and every reason in rejected.",
            "properties": {"error": {"type": "string"}, **_EVENTS_ANSWER}}},
    ),
    *(
        Endpoint(
            "POST", f"/v1/{signal.name}", handler, operation_id,
            f"OTLP/HTTP {signal.name} receiver (an exporter's OTEL_EXPORTER_OTLP_ENDPOINT is the"
            f" API's address). {what} Protobuf or OTLP JSON, plain or gzip/deflate, at most"
            f" {OTLP_MAX_BODY_BYTES} bytes decompressed; the answer is the"
            f" {signal.response.__name__} in the request's encoding.",
            request_body={"type": "object", "description": f"OTLP JSON {signal.request.__name__}"
                          " (lowerCamelCase, hex trace and span ids)."},
            response={"type": "object", "properties": {"partialSuccess": {
                "type": "object", "description": "When some items were refused: how many, and"
                " the first reason.", "properties": {
                    otlp.json_name(signal.rejected_field): {"type": ["string", "integer"]},
                    "errorMessage": {"type": "string"}}}}},
            errors=(400, 401, 403, 413, 415, 503),
            write=True,
            media_types=otlp.RESPONSE_MEDIA_TYPES,
            request_media_types=otlp.RESPONSE_MEDIA_TYPES,
        )
        for signal, handler, operation_id, what in (
            (otlp.LOGS, otlp.export_logs, "exportOtlpLogs",
             "Claude Code's api_request records (event.name api_request) become cost events;"
             " other records are ignored."),
            (otlp.TRACES, otlp.export_traces, "exportOtlpTraces",
             "Spans with GenAI usage (gen_ai.usage.input_tokens/output_tokens) become cost"
             " events; other spans are ignored."),
            (otlp.METRICS, otlp.export_metrics, "exportOtlpMetrics",
             "Accepted and not recorded (the events already carry the cost)."),
        )
    ),
    Endpoint(
        "GET", "/healthz", endpoints.healthz, "getHealth",
        "Database and Redis reachability, workers' write errors, queue depth, retrying and "
        "failed jobs; 503 without database.",
        response={"type": "object", "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
            "database": {"type": "object"}, "writes": {"type": "object"},
            "redis": {"type": "object"},
            "queue": {"type": "object"}, "spool": {"type": "object"},
            "alerts": {"type": ["object", "null"], "description":
                       "Budget alerts fired, deliveries pending and failed, alerts whose"
                       " deliveries are not queued yet.", "properties": {
                           key: {"type": "integer"}
                           for key in ("fired", "pending", "failed", "unqueued")}}}},
        errors=(503,),
    ),
    Endpoint(
        "GET", "/metrics", endpoints.metrics, "getMetrics",
        "Prometheus text exposition.",
        response={"type": "string"},
        media_types=("text/plain",),
    ),
    Endpoint(
        "GET", "/openapi.json", endpoints.openapi, "getOpenApi",
        "This document.",
        response={"type": "object"},
    ),
)

class MethodDispatch:
    """One path's handlers by method: a single Route per path, so that a 405 lists in ``Allow``
    every method the path has (a Route per method answered with its own methods only)."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.apps = {
            endpoint.method: request_response(
                limited(endpoint.handler) if endpoint.heavy else endpoint.handler)
            for endpoint in endpoints
        }
        if "GET" in self.apps:
            self.apps["HEAD"] = self.apps["GET"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.apps[scope["method"]](scope, receive, send)


def _by_path(endpoints: tuple[Endpoint, ...]) -> dict[str, list[Endpoint]]:
    grouped: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        grouped.setdefault(endpoint.path, []).append(endpoint)
    return grouped


#: The JSON API's routes: one per path of ENDPOINTS (the OpenAPI document's operations).
api_routes: list[Route] = [
    Route(path, MethodDispatch(group), methods=[endpoint.method for endpoint in group],
          name=group[0].operation_id)
    for path, group in _by_path(ENDPOINTS).items()
]

#: Everything the app serves: the API, then the dashboard's pages, the favicon and /static/
#: (served beside the API, not part of the OpenAPI document).
routes: list[BaseRoute] = [
    *api_routes,
    *(Route(page.path, pages.handler(page), methods=["GET"], name=page.template)
      for page in pages.PAGES),
    Route("/favicon.ico", pages.favicon, methods=["GET"], name="favicon"),
    Route("/static/{name}", pages.static, methods=["GET"], name="static"),
]
