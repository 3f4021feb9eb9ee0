"""The OpenAPI 3.1 document, built from the routing table data (api.routes.ENDPOINTS)."""

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from api.paths import template
from api.routes import Endpoint
from costlog.domain import event

BUDGET_STATUS = {
    "type": "object",
    "properties": {
        "project": {"type": "string"}, "month": {"type": "string", "example": "2026-11"},
        "monthly_limit_usd": {"type": "number"},
        "alert_threshold_percent": {"type": "integer"},
        "timezone": {"type": "string", "description": "IANA zone of the budget's months."},
        "hard_limit": {"type": "boolean",
                       "description": "The budget gate closes once spent > limit."},
        "current_spent_usd": {"type": "number"}, "remaining_usd": {"type": "number"},
        "percent_used": {"type": "number"}, "projected_monthly": {"type": "number"},
        "days_remaining": {"type": "integer"}, "on_track": {"type": "boolean"},
        "at_alert_threshold": {"type": "boolean"}, "over_budget": {"type": "boolean"},
    },
}
COST_EVENT = event.json_schema()
WRITE_RULE = (
    "Without COSTLOG_API_TOKEN, no token is needed and only loopback clients may write (403"
    " otherwise); with it, 'Authorization: Bearer <token>' is required (401 otherwise). Always:"
    " 'Content-Type: {}' (415 otherwise), and an Origin header, when sent, must be"
    " the API's own or listed in COSTLOG_CORS_ORIGINS (403 otherwise)."
)
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
#: A body in a binary encoding (OTLP's protobuf): the schema of the JSON form does not apply.
BINARY = {"type": "string", "format": "binary"}
BINARY_MEDIA_TYPES = frozenset({"application/x-protobuf"})


def _content(media_types: Iterable[str], schema: dict[str, Any]) -> dict[str, Any]:
    return {media_type: {"schema": BINARY if media_type in BINARY_MEDIA_TYPES else schema}
            for media_type in media_types}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "parameters": [
            {"name": p.name, "in": p.location, "required": p.required or p.location == "path",
             "description": p.description, "schema": p.schema}
            for p in endpoint.parameters
        ],
        "responses": {
            str(endpoint.success): {
                "description": HTTPStatus(endpoint.success).phrase,
                "content": _content(endpoint.media_types, endpoint.response),
            },
            **{
                str(status): {"description": HTTPStatus(status).phrase,
                              "content": {"application/json": {"schema": endpoint.error_bodies.get(
                                  status, {"$ref": "#/components/schemas/Error"})}}}
                for status in endpoint.errors
            },
        },
    }
    if endpoint.request_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": _content(endpoint.request_media_types, endpoint.request_body),
        }
    if endpoint.write:
        # No token when none is configured ({}), else the bearer token: as enforced.
        operation["security"] = [{}, {"bearer": []}]
        operation["description"] = WRITE_RULE.format(
            "' or '".join(endpoint.request_media_types))
    return operation


def build(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operations = paths.setdefault(template(endpoint.path), {})
        operations[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "costlog", "version": "0.1.0",
                 "description": "Cost analytics for AI coding agents (read API and ingest)."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR, "BudgetStatus": BUDGET_STATUS, "CostEvent": COST_EVENT},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
