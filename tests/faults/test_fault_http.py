"""Fault 7: hostile HTTP input, generated from the OpenAPI document the API serves.

Schemathesis reads GET /openapi.json and, for every operation in it, makes cases that fit the
schema and cases that break it: wrong types, missing or out-of-range values, odd Unicode, long
strings, NaN-like numbers, bodies of the wrong shape. Hypothesis adds raw bytes the schema
cannot describe: invalid JSON and other content types for every request body, invalid UTF-8
and percent-escapes in every parameter. Everything goes over real sockets to a real
``costlog api`` (seeded database, a real Redis queue, COSTLOG_API_TOKEN set), each request with
a timeout, so a hang fails the test. Every answer must be a documented status below 500 (and
not 503: the database and Redis are up), and every error ``{"error": "<text>"}`` (POST
/api/cost/events' 400 for a body whose every event is refused also carries ``accepted`` 0, ``ids``
[] and every reason in ``rejected``, as documented). The OTLP/HTTP receivers get the same
treatment at their own limit (8 MiB as sent and once decompressed), with edge values in the
attributes of a log record, a span and a metric point.

The operation lists come from the document, never from a list kept here: a new endpoint is
fuzzed, body-limited and auth-checked without touching this file.
"""

import gzip
import json
import os
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests
import schemathesis
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.paths import template
from api.routes import ENDPOINTS
from costlog.cli.redis_server import RedisServer, free_port
from costlog.constants import MAX_BODY_BYTES, OTLP_MAX_BODY_BYTES
from costlog.domain.event import parse_event
from costlog.settings import Settings
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from ingest.queue import make_queue
from ingest.spool import Spool
from tests.conftest import NOW
from tests.integration.test_api_security import WRITES as SECURITY_TEST_WRITES
from tests.support.api import EVENTS, client_for, seed, settings_for
from tests.support.otel import BASE_NANOS, CLAUDE_CODE_RESOURCE, api_request, genai_attributes
from tests.support.processes import costlog_env, process

pytestmark = pytest.mark.e2e

TOKEN = "fuzz-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Per request: far above any honest answer here (milliseconds), so only a hang reaches it.
TIMEOUT = 10.0
#: Hypothesis examples per operation and test, on top of Schemathesis' deterministic coverage
#: cases; COSTLOG_FUZZ_EXAMPLES=2000 for a longer search.
EXAMPLES = int(os.environ.get("COSTLOG_FUZZ_EXAMPLES", "60"))
#: Below this many cases an operation does not count as fuzzed.
MIN_CASES = min(50, EXAMPLES)
JSON_TYPE = "application/json"


def served_document() -> dict[str, Any]:
    """GET /openapi.json of the app: the document every list of operations below comes from."""
    with client_for(Settings(db_path=Path("unused.db"))) as client:
        return client.get("/openapi.json").json()


DOCUMENT = served_document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS: dict[str, dict[str, Any]] = {
    f"{method.upper()} {path}": operation
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
}
WRITE_OPERATIONS = sorted(label for label, op in OPERATIONS.items() if op.get("security"))
BODY_OPERATIONS = sorted(label for label, op in OPERATIONS.items() if "requestBody" in op)
PARAM_OPERATIONS = sorted(label for label, op in OPERATIONS.items() if op["parameters"])
PROTOBUF_TYPE = "application/x-protobuf"
#: The OTLP/HTTP receivers: the operations whose body may be protobuf.
OTLP_OPERATIONS = sorted(label for label in BODY_OPERATIONS
                         if PROTOBUF_TYPE in OPERATIONS[label]["requestBody"]["content"])


def split(label: str) -> tuple[str, str]:
    method, path = label.split(" ", 1)
    return method, path


def allowed_statuses(label: str) -> set[int]:
    """The documented statuses, less 503: the database and Redis are up throughout."""
    return {int(status) for status in OPERATIONS[label]["responses"]} - {503}


def success_types(label: str) -> set[str]:
    (status,) = (s for s in OPERATIONS[label]["responses"] if s.startswith("2"))
    return set(OPERATIONS[label]["responses"][status]["content"])


def assert_answer(label: str, status: int, content_type: str, body: bytes,
                  also: set[int] = frozenset()) -> None:
    """A documented status below 500; an error is exactly ``{"error": "<non-empty text>"}``,
    or the documented all-refused 400 of POST /api/cost/events."""
    context = f"{label}: {status} {body[:300]!r}"
    assert status < 500, context
    assert status in allowed_statuses(label) | also, context
    if status >= 400:
        assert content_type == JSON_TYPE, context
        payload = json.loads(body)
        assert isinstance(payload, dict) and isinstance(payload["error"], str), context
        assert payload["error"].strip(), context
        if (label, status) == (EVENTS_POST, 400) and list(payload) != ["error"]:
            assert_every_event_refused(payload, context)
        else:
            assert list(payload) == ["error"], context
    else:
        assert content_type.split(";")[0] in success_types(label), context
        if content_type == JSON_TYPE:
            json.loads(body)


EVENTS_POST = "POST /api/cost/events"
#: How many reasons the message of an all-refused array names.
REASONS_IN_MESSAGE = 3


def assert_every_event_refused(payload: dict[str, Any], context: str) -> None:
    """``{"error", "accepted": 0, "ids": [], "rejected": [{"index", "error"}, ...]}``: the error
    is the one reason of a single object, or the first three of an array's with their indexes."""
    assert list(payload) == ["error", "accepted", "ids", "rejected"], context
    assert (payload["accepted"], payload["ids"]) == (0, []), context
    rejected = payload["rejected"]
    assert rejected and all(list(item) == ["index", "error"] and isinstance(item["index"], int)
                            and isinstance(item["error"], str) and item["error"].strip()
                            for item in rejected), context
    assert [item["index"] for item in rejected] == sorted({item["index"] for item in rejected})
    shown = "; ".join(f"[{item['index']}] {item['error']}"
                      for item in rejected[:REASONS_IN_MESSAGE])
    more = len(rejected) - REASONS_IN_MESSAGE
    as_array = "every event was refused: " + shown + (f"; and {more} more" if more > 0 else "")
    single = len(rejected) == 1 and rejected[0]["index"] == 0 and rejected[0]["error"]
    assert payload["error"] in (as_array, single), context


# -- the server ----------------------------------------------------------------------------------


@dataclass
class Api:
    url: str
    log: Path
    queue: str
    redis_url: str
    spool: Path

    def request(self, method: str, target: str, **kwargs: Any) -> requests.Response:
        """One request on a fresh connection (the server closes it after an unread body)."""
        with requests.Session() as session:
            return session.request(method, self.url + target, timeout=TIMEOUT, **kwargs)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Api]:
    """``costlog api`` on a free port over a seeded database, with the token set."""
    tmp = tmp_path_factory.mktemp("fuzz")
    queue = f"costlog-fuzz-{uuid.uuid4().hex[:8]}"
    db = connect(tmp / "costlog.db")
    migrate(db)
    seed(db)
    db.close()
    port = free_port()
    # The seeded month is "now" for the server too, so budgets, windows and ranges meet data.
    env = costlog_env(tmp, redis_server.url, queue) | {"COSTLOG_API_TOKEN": TOKEN,
                                                       "COSTLOG_NOW": NOW.isoformat()}
    log = tmp / "api.log"
    with process(env, "api", "--port", str(port), log=log) as proc:
        server = Api(f"http://127.0.0.1:{port}", log, queue, redis_server.url, tmp / "spool")
        deadline = time.monotonic() + 20
        while True:
            try:
                server.request("GET", "/healthz")
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield server
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()


@pytest.fixture
def tally(request: pytest.FixtureRequest, api: Api) -> Iterator[Counter[int]]:
    """Statuses seen by one operation's test; afterwards: enough cases, no traceback logged."""
    statuses: Counter[int] = Counter()
    logged = api.log.stat().st_size
    yield statuses
    label = getattr(request.node, "operation_label", None) or request.node.callspec.id
    # An operation without parameters or body has nothing to vary but the method and the query;
    # the fixed edge-value tests send what they send.
    has_inputs = OPERATIONS[label]["parameters"] or "requestBody" in OPERATIONS[label]
    fuzzing = request.node.originalname in ("test_schema_cases", "test_raw_requests")
    assert sum(statuses.values()) >= (MIN_CASES if has_inputs and fuzzing else 1), (
        label, statuses)
    with api.log.open("rb") as log:
        log.seek(logged)
        text = log.read().decode(errors="replace")
    for sign in ("Traceback", "unhandled error", "Exception in ASGI application"):
        assert sign not in text, text
    print(f"\n{label}: {sum(statuses.values())} cases, statuses {dict(sorted(statuses.items()))}")


# -- the document --------------------------------------------------------------------------------


def test_every_operation_is_fuzzed(api: Api) -> None:
    """Schemathesis parametrizes over exactly the document's operations, and the document over
    exactly the routing table; the running server serves this same document."""
    parsed = [result.ok() for result in SCHEMA.get_all_operations()]  # Err: unparsable op
    assert sorted(op.label for op in parsed) == sorted(OPERATIONS)
    assert sorted(OPERATIONS) == sorted(f"{e.method} {template(e.path)}" for e in ENDPOINTS)
    assert api.request("GET", "/openapi.json").json() == DOCUMENT
    assert WRITE_OPERATIONS and BODY_OPERATIONS and PARAM_OPERATIONS
    # tests/integration/test_api_security.py checks many token and address variants on its own list
    # of URLs (a path's parameters filled in): that list must name every operation the document
    # secures.
    assert sorted(operation_of(m, u) for m, u, _ in SECURITY_TEST_WRITES) == WRITE_OPERATIONS
    assert OTLP_OPERATIONS == ["POST /v1/logs", "POST /v1/metrics", "POST /v1/traces"]


def operation_of(method: str, url: str) -> str | None:
    """The document's operation a concrete request goes to ({parameter}: any one segment)."""
    segments = url.split("/")
    for label in OPERATIONS:
        operation_method, path = split(label)
        parts = path.split("/")
        if operation_method == method and len(parts) == len(segments) and all(
                part == segment or (part.startswith("{") and part.endswith("}") and segment)
                for part, segment in zip(parts, segments, strict=True)):
            return label
    return None


# -- schema-driven fuzzing -----------------------------------------------------------------------


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_schema_cases(case: schemathesis.Case, api: Api, tally: Counter[int]) -> None:
    """Positive and negative cases of one operation, each answered in time and in shape."""
    label = case.operation.label
    if label in WRITE_OPERATIONS:
        case.headers = {**(case.headers or {}), **AUTH}
    response = case.call(base_url=api.url, timeout=TIMEOUT)
    tally[response.status_code] += 1
    # Coverage cases include other methods on the operation's path: the router's JSON 405.
    also = {405} if case.method.upper() != split(label)[0] else set()
    assert_answer(label, response.status_code, response.headers.get("content-type", [""])[0],
                  response.content, also)


# -- raw input the schema cannot describe --------------------------------------------------------

#: Values that look like numbers, dates or JSON to a lax parser, and escapes that are not.
NASTY = ["", " ", "NaN", "nan", "-Infinity", "Infinity", "1e309", "-0", "0x10", "1_000", "+5",
         "١٢", "null", "true", "[]", "{}", "%", "%zz", "%00", "*", "..", "../etc/passwd",
         "2026-02-30", "2026-11-20T25:00:00Z", "9999-12-31T23:59:59-14:00", "'; DROP TABLE x;--"]


def encoded(raw: bool) -> st.SearchStrategy[str]:
    """One query name or value or path segment, as it appears in the URL.

    Mostly percent-escaped bytes: lone surrogates (invalid UTF-8), NUL, any byte, long text up
    to 8 KiB; with ``raw`` some pass unescaped, so stray '%', '&', '=' and '/' reach the parser.
    """
    text = st.one_of(
        st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(max_size=40),
        st.sampled_from(NASTY).map(str.encode),
        st.integers(1, 8192).map(lambda n: b"x" * n),
        st.text(min_size=100, max_size=600).map(lambda s: s.encode("utf-8", "surrogatepass")),
    )
    safe = st.sampled_from(["", "%&=+;/"]) if raw else st.just("")
    return st.tuples(text, safe).map(lambda pair: quote(pair[0], safe=pair[1]))


#: Numbers on the edges of float and of costlog's bounds (10^12 tokens, 1,000,000 USD).
EDGE_NUMBERS = [5e-324, 1e-320, 2.2250738585072014e-308, 1e-9, -0.0, 0, 1, 79.999, 100, 101,
                10**12, 10**12 + 1, 1e6, 1000000.0000001, 1.7976931348623157e308, -1, 2**63,
                10**30]


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                        st.sampled_from(EDGE_NUMBERS), st.text(max_size=30))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                        max_leaves=12)


def property_names(schema: Any) -> set[str]:
    """Every property name a (request body) schema mentions, following $refs."""
    if isinstance(schema, list):
        return set().union(*map(property_names, schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    names = set(schema.get("properties", {}))
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target: Any = DOCUMENT
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        names |= property_names(target)
    return names | set().union(*(property_names(v) for k, v in schema.items() if k != "$ref"))


def body_schema(label: str) -> dict[str, Any]:
    return OPERATIONS[label]["requestBody"]["content"][JSON_TYPE]["schema"]


def hostile_bodies(label: str) -> st.SearchStrategy[bytes]:
    """Half JSON with the document's property names and wrong or edge values (NaN, Infinity,
    subnormal and huge floats, 30-digit ints); half bytes that are not JSON at all: truncated,
    binary, Latin-1, UTF-16, nested 200,000 deep, a 5,000-digit number."""
    values = st.one_of(st.sampled_from(EDGE_NUMBERS), json_values())
    shaped = st.fixed_dictionaries(
        {}, optional={name: values for name in sorted(property_names(body_schema(label)))})
    documents = st.one_of(shaped, st.lists(shaped, min_size=1, max_size=5), json_values())
    as_json = documents.map(lambda value: json.dumps(value).encode())  # allow_nan: NaN tokens
    broken = st.one_of(
        st.tuples(as_json, st.integers(0, 200)).map(lambda pair: pair[0][:pair[1]]),
        st.binary(max_size=300),
        st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.text(max_size=100).map(lambda s: json.dumps(s).encode("latin-1", "replace")),
        st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(4000, 6000).map(lambda n: b'{"x": 1' + b"0" * n + b"}"),
        st.sampled_from([b"", b"null", b"NaN", b"\xef\xbb\xbf{}", b'{"a": 1, "a": 2}',
                         '{"project_id": "é"}'.encode("utf-16"), b"{" + b" " * 1000]),
    )
    return st.one_of(as_json, broken)


CONTENT_TYPES = [None, JSON_TYPE, "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/json; charset=latin-1",
                 "application/xml", "*/*", "garbage;;;==", "application/json; q=\"\\\"",
                 "application/x-protobuf", "application/x-protobuf; charset=utf-8"]
#: An OTLP receiver's Content-Encoding: the ones it takes (the body compressed, or not: not
#: gzip data), and ones it refuses.
ENCODINGS = [None, "identity", "gzip", "x-gzip", "deflate", "br", "gzip, gzip", ""]


INITIATIVES = sorted({event["initiative_id"] for event in EVENTS if "initiative_id" in event})
#: Values that reach data: the seeded projects and initiatives, real zones and dates.
#: A recorded event's id (the seed fills ids with the event's hash): a receipt that exists.
EVENT_ID = parse_event(EVENTS[0], now=NOW, fill_id="hash").event_id
SEEDED = sorted({event["project_id"] for event in EVENTS} | set(INITIATIVES) | {EVENT_ID}
                | {"*", "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati",
                   "2026-11-01", "2026-11-20T12:00:00Z", "2026-11-01T01:30:00-04:00"})


def fill(path: str, value: str | None = None) -> str:
    """``path`` with every {parameter} set to ``value`` (by default a seeded initiative id, or
    event id for a receipt)."""
    def segment(match: re.Match[str]) -> str:
        chosen = value or (EVENT_ID if match[0] == "{event_id}" else INITIATIVES[0])
        return quote(chosen.encode("utf-8", "surrogatepass"), safe="")

    return re.sub(r"\{[^}]+\}", segment, path)


def known_values(label: str) -> list[str]:
    """The seeded values and every enum, default and example value of the operation's params."""
    values = set(SEEDED)
    for parameter in OPERATIONS[label]["parameters"]:
        schema = parameter["schema"]
        values.update(str(v) for v in schema.get("enum", []))
        values.update(str(schema[key]) for key in ("default", "example") if key in schema)
    return sorted(values)


@st.composite
def raw_requests(draw: st.DrawFn, label: str) -> tuple[str, dict[str, str], bytes | None]:
    """(target, headers, body) for one hostile request to the operation ``label``."""
    method, path = split(label)
    parameters = OPERATIONS[label]["parameters"]
    values = st.one_of(encoded(raw=True),
                       st.sampled_from(known_values(label)).map(lambda v: quote(v, safe="")))
    for parameter in parameters:
        if parameter["in"] == "path":
            segment = draw(values.filter(lambda s: s not in ("", ".", "..")))
            path = path.replace("{" + parameter["name"] + "}", segment)
    declared = [p["name"] for p in parameters if p["in"] == "query"]
    names = st.one_of(st.sampled_from(declared), encoded(raw=False)) if declared \
        else encoded(raw=False)
    pairs = draw(st.lists(st.tuples(names, values), max_size=5))
    target = path + ("?" + "&".join(f"{name}={value}" for name, value in pairs) if pairs else "")
    headers = dict(AUTH) if label in WRITE_OPERATIONS else {}
    body = None
    if "requestBody" in OPERATIONS[label]:
        body = draw(hostile_bodies(label))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        if content_type is not None:
            headers["Content-Type"] = content_type
        encoding = draw(st.sampled_from(ENCODINGS)) if label in OTLP_OPERATIONS else None
        if encoding is not None:
            headers["Content-Encoding"] = encoding
            if encoding in ("gzip", "x-gzip") and draw(st.booleans()):
                body = gzip.compress(body)
    return target, headers, body


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_raw_requests(label: str, api: Api, tally: Counter[int]) -> None:
    """Every operation, raw bytes in every parameter (and body), undeclared parameters too."""

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(request=raw_requests(label))
    def run(request: tuple[str, dict[str, str], bytes | None]) -> None:
        target, headers, body = request
        response = api.request(split(label)[0], target, headers=headers, data=body)
        tally[response.status_code] += 1
        assert_answer(label, response.status_code, response.headers.get("content-type", ""),
                      response.content)

    run()


# -- every edge value in every field -------------------------------------------------------------

#: Strings on the edges: empty, NUL, a lone surrogate, 10,000 characters, extreme instants.
EDGE_STRINGS = ["", " ", "\x00", "\ud800", "🙂" * 100, "x" * 10_000, "*", "NaN",
                "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-11-21T12:00:01Z"]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its $ref followed, and the first branch of a oneOf/anyOf (the object)."""
    while "$ref" in schema:
        target: Any = DOCUMENT
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    for key in ("oneOf", "anyOf"):
        if key in schema and "type" not in schema:
            return resolve(schema[key][0])
    return schema


def minimal(schema: dict[str, Any]) -> Any:
    """The smallest valid value: required properties only, strings "x", numbers at minimum."""
    schema = resolve(schema)
    kind = schema.get("type")
    if kind == "object":
        return {name: minimal(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema["items"])]
    if kind in ("number", "integer"):
        return schema.get("minimum", 0)
    return "x"


def otlp_value(value: Any) -> dict[str, Any]:
    """An OTLP JSON AnyValue: 64-bit integers as strings, as OTLP JSON writes them."""
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": value}


def otlp_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": otlp_value(value)} for key, value in attributes.items()]


def otlp_body(label: str, resource: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """An OTLP JSON export request from ``resource`` with one item carrying ``attributes``:
    Claude Code's api_request log record, a GenAI chat span, a token counter's point."""
    values = otlp_attributes(attributes)
    sender = {"resource": {"attributes": otlp_attributes(resource)}}
    if label == "POST /v1/logs":
        return {"resourceLogs": [{**sender, "scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(BASE_NANOS), "attributes": values}]}]}]}
    if label == "POST /v1/traces":
        return {"resourceSpans": [{**sender, "scopeSpans": [{"spans": [
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
             "name": "chat claude-haiku-4-5", "kind": 3, "startTimeUnixNano": str(BASE_NANOS),
             "endTimeUnixNano": str(BASE_NANOS + 1_500_000_000), "attributes": values}]}]}]}
    return {"resourceMetrics": [{**sender, "scopeMetrics": [{"metrics": [
        {"name": "claude_code.token.usage", "unit": "tokens", "sum": {
            "aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [
                {"asInt": "1000", "timeUnixNano": str(BASE_NANOS), "attributes": values}]}}]}]}]}


#: Each receiver's resource and item attributes: every one is set to each edge value in turn.
OTLP_ATTRIBUTES = {
    "POST /v1/logs": (CLAUDE_CODE_RESOURCE, api_request(1)),
    "POST /v1/traces": ({"service.name": "support-bot"}, genai_attributes(1)),
    "POST /v1/metrics": (CLAUDE_CODE_RESOURCE, {"model": "claude-sonnet-4-5", "type": "input"}),
}


@pytest.mark.parametrize("label", OTLP_OPERATIONS)
def test_edge_values_in_every_otlp_attribute(label: str, api: Api, tally: Counter[int]) -> None:
    """The item as sent is taken whole (200, no partial success); with one resource or item
    attribute at a time set to each edge number and string (as a string, integer or double
    value), the answer is 200, with at most that one item refused, or 400."""
    resource, attributes = OTLP_ATTRIBUTES[label]
    response = api.request("POST", split(label)[1], json=otlp_body(label, resource, attributes),
                           headers=AUTH)
    assert (response.status_code, response.json()) == (200, {}), response.text
    varied = [(name, True) for name in sorted(resource)] + [(name, False)
                                                           for name in sorted(attributes)]
    for name, of_resource in varied:
        for value in [*EDGE_NUMBERS, *map(str, EDGE_NUMBERS), *EDGE_STRINGS]:
            body = (otlp_body(label, {**resource, name: value}, attributes) if of_resource
                    else otlp_body(label, resource, {**attributes, name: value}))
            response = api.request("POST", split(label)[1], json=body, headers=AUTH)
            tally[response.status_code] += 1
            assert_answer(label, response.status_code, response.headers["content-type"],
                          response.content)
            if response.status_code == 200:
                partial = response.json().get("partialSuccess", {})
                assert set(partial) <= {"rejectedLogRecords", "rejectedSpans",
                                        "errorMessage"}, (name, value, partial)
                assert int(partial.get("rejectedLogRecords", partial.get("rejectedSpans", 0))) \
                    in (0, 1), (name, value, partial)


@pytest.mark.parametrize("label", sorted(set(BODY_OPERATIONS) - set(OTLP_OPERATIONS)))
def test_edge_values_in_every_body_field(label: str, api: Api, tally: Counter[int]) -> None:
    """A minimal valid body with one property at a time set to each edge number (or string)."""
    method, path = split(label)
    schema = resolve(body_schema(label))
    base = minimal(schema)
    if not schema["properties"]:  # nothing to vary: the minimal body itself
        response = api.request(method, path, json=base, headers=AUTH)
        tally[response.status_code] += 1
        assert_answer(label, response.status_code, response.headers["content-type"],
                      response.content)
    for name, field in sorted(schema["properties"].items()):
        numeric = resolve(field).get("type") in ("number", "integer")
        for value in EDGE_NUMBERS if numeric else EDGE_STRINGS:
            response = api.request(method, path, json={**base, name: value}, headers=AUTH)
            tally[response.status_code] += 1
            assert_answer(label, response.status_code, response.headers["content-type"],
                          response.content)


@pytest.mark.parametrize("label", PARAM_OPERATIONS)
def test_edge_values_in_every_parameter(label: str, api: Api, tally: Counter[int]) -> None:
    """Each parameter alone at each edge string, seeded value and the operation's enum values."""
    method, path = split(label)
    body = json.dumps(minimal(body_schema(label))) if label in BODY_OPERATIONS else None
    for parameter in OPERATIONS[label]["parameters"]:
        for value in EDGE_STRINGS + NASTY + known_values(label):
            encoded_value = quote(value.encode("utf-8", "surrogatepass"), safe="")
            if parameter["in"] == "path":
                if value in ("", ".", ".."):
                    continue  # another route once the client normalises the path
                target = fill(path.replace("{" + parameter["name"] + "}", encoded_value))
            else:
                target = f"{fill(path)}?{parameter['name']}={encoded_value}"
            response = api.request(method, target, data=body, headers=AUTH)
            tally[response.status_code] += 1
            assert_answer(label, response.status_code, response.headers["content-type"],
                          response.content)


# -- body limit ----------------------------------------------------------------------------------


def max_items(schema: Any) -> int | None:
    """The smallest ``maxItems`` anywhere in a request body schema, if any."""
    if isinstance(schema, list):
        found = [n for n in map(max_items, schema) if n is not None]
    elif isinstance(schema, dict):
        found = [n for n in map(max_items, schema.values()) if n is not None]
        if isinstance(schema.get("maxItems"), int):
            found.append(schema["maxItems"])
    else:
        return None
    return min(found, default=None)


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: requests sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def body_limit(label: str) -> int:
    """The OTLP receivers take up to 8 MiB (as sent and decompressed), the rest up to 1 MiB."""
    return OTLP_MAX_BODY_BYTES if label in OTLP_OPERATIONS else MAX_BODY_BYTES


@pytest.mark.parametrize("label", BODY_OPERATIONS)
def test_body_limit(label: str, api: Api) -> None:
    """One byte over the operation's limit is 413, declared or chunked; exactly the limit is
    read (for an OTLP receiver: 200, an empty export request; gzip-compressed, the limit holds
    for the decompressed bytes)."""
    method, path = split(label)
    limit = body_limit(label)
    over = b"{}" + b" " * (limit - 1)  # limit + 1
    at_limit = b"{}" + b" " * (limit - 2)
    headers = {**AUTH, "Content-Type": JSON_TYPE}
    encodings = [({}, over, at_limit)]
    if label in OTLP_OPERATIONS:  # a few KiB sent, over or at the limit once inflated
        encodings.append(({"Content-Encoding": "gzip"}, gzip.compress(over),
                          gzip.compress(at_limit)))
    for extra, too_large, largest in encodings:
        for data in (too_large, chunks(too_large)):
            response = api.request(method, path, data=data, headers=headers | extra)
            assert (response.status_code, response.json()) == (
                413, {"error": "request body too large"}), (label, extra)
        for data in (largest, chunks(largest)):
            response = api.request(method, path, data=data, headers=headers | extra)
            assert response.status_code != 413, (label, extra)
            assert_answer(label, response.status_code, response.headers["content-type"],
                          response.content)
            if label in OTLP_OPERATIONS:
                assert (response.status_code, response.json()) == (200, {}), (label, extra)


@pytest.mark.parametrize("label", [label for label in BODY_OPERATIONS
                                   if max_items(body_schema(label)) is not None])
def test_max_items(label: str, api: Api) -> None:
    """An array body one item over the document's ``maxItems`` is 413; at ``maxItems`` it is not."""
    limit = max_items(body_schema(label))
    assert limit is not None
    method, path = split(label)
    response = api.request(method, path, json=[{}] * (limit + 1), headers=AUTH)
    assert response.status_code == 413, (label, response.text)
    assert_answer(label, response.status_code, response.headers["content-type"],
                  response.content)
    response = api.request(method, path, json=[{}] * limit, headers=AUTH)
    assert response.status_code != 413, (label, response.text)


# -- write access --------------------------------------------------------------------------------

REMOTE = ("203.0.113.7", 40000)


@pytest.mark.parametrize("label", WRITE_OPERATIONS)
def test_writes_need_the_token(label: str, api: Api) -> None:
    """With COSTLOG_API_TOKEN set: no token or a wrong one is 401, before the body is read."""
    method, path = split(label)
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        for body in (b"{}", b"not json", b" " * (MAX_BODY_BYTES + 1)):
            response = api.request(method, path, data=body,
                                   headers={**headers, "Content-Type": JSON_TYPE})
            assert (response.status_code, response.json()) == (
                401, {"error": "missing or invalid token"}), (label, headers)
            assert response.headers["www-authenticate"] == "Bearer"


def test_reads_need_no_token(api: Api) -> None:
    for label in sorted(set(OPERATIONS) - set(WRITE_OPERATIONS)):
        method, path = split(label)
        response = api.request(method, fill(path))
        assert response.status_code == 200, (label, response.text)


def test_remote_writes_without_a_token_are_403(db: sqlite_utils.Database, db_path: Path,
                                                tmp_path: Path) -> None:
    """No token configured: a non-loopback client may read but not write (in process, where
    the client address can be set)."""
    seed(db)
    with client_for(settings_for(db_path, tmp_path), client=REMOTE) as client:
        for label in WRITE_OPERATIONS:
            method, path = split(label)
            for headers in ({}, AUTH):
                response = client.request(method, path, content=b"{}",
                                          headers={**headers, "Content-Type": JSON_TYPE})
                assert (response.status_code, response.json()) == (
                    403, {"error": "writes are allowed from loopback only"}), label
        for label in sorted(set(OPERATIONS) - set(WRITE_OPERATIONS)):
            method, path = split(label)
            response = client.request(method, fill(path))
            assert response.status_code == 200, (label, response.text)


# -- below the app -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PUT /api/cost/budget HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/cost/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/cost/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["header", "request-line", "path-byte", "length", "negative-length", "chunk-size"])
def test_malformed_http_is_refused_by_the_server(api: Api, raw: bytes) -> None:
    """HTTP the parser cannot read never reaches the app: uvicorn answers a plain-text 400 and
    closes; no 500, no hang, and the server keeps serving."""
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as connection:
        connection.sendall(raw)
        reply = b""
        while chunk := connection.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert api.request("GET", "/healthz").status_code == 200


def test_a_subnormal_budget_is_refused(api: Api) -> None:
    """Found by this suite: 5e-324 made percent_used Infinity, which has no JSON, so the PUT and
    every later GET of that budget answered 500. A positive limit is now at least 1 nano-USD."""
    for limit in (5e-324, 1e-320, 2.2250738585072014e-308, 1e-10):
        response = api.request("PUT", "/api/cost/budget", json={"monthly_limit_usd": limit},
                               headers=AUTH)
        assert (response.status_code, response.json()) == (
            400, {"error": "monthly_limit_usd must be 0 or at least 0.000000001"}), limit
    # In UTC: a fuzzed PUT may have left the budget in another zone.
    response = api.request("PUT", "/api/cost/budget",
                           json={"monthly_limit_usd": 1e-9, "timezone": "UTC"}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["percent_used"] == pytest.approx(4.115856789e11)
    assert api.request("GET", "/api/cost/budget").status_code == 200


def test_accepted_events_reach_the_redis_queue(api: Api) -> None:
    """The 202s above are real: accepted events are jobs on the queue, none went to the spool."""
    event = minimal(resolve(body_schema("POST /api/cost/events")))
    response = api.request("POST", "/api/cost/events", json=event, headers=AUTH)
    assert (response.status_code, response.json()["accepted"]) == (202, 1)
    connection = redis.Redis.from_url(api.redis_url)
    try:
        assert make_queue(api.queue, connection).count >= 1
    finally:
        connection.close()
    assert not Spool(api.spool).has_pending()
