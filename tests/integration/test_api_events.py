"""POST /api/cost/events: validation, rejections, limits, and the queue behind it."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from starlette.testclient import TestClient

from costlog.cli.redis_server import free_port
from costlog.domain.event import parse_event
from costlog.store.write import record_events
from ingest.spool import Spool
from tests.conftest import NOW
from tests.support.api import PRICES, client_for, settings_for

JSON_TYPE = {"Content-Type": "application/json"}
MIB = 1024 * 1024
GOOD = {"project_id": "web", "task_id": "T-1", "phase": "implement",
        "model": "claude-sonnet-4-5", "input_tokens": 1000, "output_tokens": 100,
        "timestamp": "2026-11-20T10:00:00Z"}


def hashed_id(payload: dict[str, Any]) -> str:
    return parse_event(payload, now=NOW, fill_id="hash").event_id


@pytest.fixture
def client(queued_client: TestClient) -> TestClient:
    """The API over an empty database, publishing to ``queue`` (tests/integration/conftest.py)."""
    return queued_client


def queued_events(queue: Any) -> list[dict[str, Any]]:
    return [event for job in queue.get_jobs() for event in job.args[0]]


def test_single_event(client: TestClient, queue: Any) -> None:
    response = client.post("/api/cost/events", json=GOOD)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "ids": [hashed_id(GOOD)], "rejected": []}
    assert queue.count == 1
    (job,) = queue.get_jobs()
    assert job.func_name == "ingest.job.record_events"
    assert job.args[0] == [parse_event(GOOD, now=NOW).to_json() | {"event_id": hashed_id(GOOD)}]


def test_same_body_twice_gets_the_same_ids(client: TestClient, queue: Any) -> None:
    first = client.post("/api/cost/events", json=[GOOD, {**GOOD, "task_id": "T-2"}]).json()
    second = client.post("/api/cost/events", json=[GOOD, {**GOOD, "task_id": "T-2"}]).json()
    assert first == second
    assert len(set(first["ids"])) == 2


def test_array_with_rejections(client: TestClient, queue: Any) -> None:
    body = [
        {**GOOD, "event_id": "evt-1"},
        {**GOOD, "input_tokens": "12"},
        GOOD,
        "not an object",
        {**GOOD, "project_id": "*"},
        {**GOOD, "cost_usd": -1},
        {**GOOD, "timestamp": "2026-11-22T12:00:01Z"},
        {**GOOD, "iteration": True},
        {key: value for key, value in GOOD.items() if key != "phase"},
        {**GOOD, "event_id": "evt-2", "cost_usd": 0.5},
    ]
    response = client.post("/api/cost/events", json=body)
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 3,
        "ids": ["evt-1", hashed_id(GOOD), "evt-2"],
        "rejected": [
            {"index": 1, "error": "input_tokens: must be an integer >= 0, got string"},
            {"index": 3, "error": "event: must be a JSON object, got string"},
            {"index": 4, "error": "project_id: '*' is reserved"},
            {"index": 5, "error": "cost_usd: must be a number >= 0, got -1"},
            {"index": 6, "error": "timestamp: is more than 24 hours in the future"},
            {"index": 7, "error": "iteration: must be an integer >= 0, got boolean"},
            {"index": 8, "error": "phase: is required"},
        ],
    }
    assert [event["event_id"] for event in queued_events(queue)] == [
        "evt-1", hashed_id(GOOD), "evt-2"]


def test_single_invalid_event_is_a_400_with_its_reason(client: TestClient, queue: Any) -> None:
    response = client.post("/api/cost/events", json={**GOOD, "task_id": ""})
    assert response.status_code == 400
    assert response.json() == {"error": "task_id: must not be empty", "accepted": 0, "ids": [],
                               "rejected": [{"index": 0, "error": "task_id: must not be empty"}]}
    assert queue.count == 0


def test_array_whose_every_event_is_refused_is_a_400(client: TestClient, queue: Any) -> None:
    response = client.post("/api/cost/events", json=[
        {**GOOD, "task_id": ""}, {**GOOD, "timestamp": "1999-12-31T23:59:59Z"}])
    assert response.status_code == 400
    assert response.json() == {
        "error": "every event was refused: [0] task_id: must not be empty;"
                 " [1] timestamp: must be 2000-01-01 or later",
        "accepted": 0, "ids": [],
        "rejected": [{"index": 0, "error": "task_id: must not be empty"},
                     {"index": 1, "error": "timestamp: must be 2000-01-01 or later"}]}
    assert queue.count == 0


def test_array_of_one_refused_event_is_a_400(client: TestClient, queue: Any) -> None:
    response = client.post("/api/cost/events", json=[{**GOOD, "cost_usd": -1}])
    assert (response.status_code, response.json()["error"]) == (
        400, "every event was refused: [0] cost_usd: must be a number >= 0, got -1")


def test_empty_array(client: TestClient, queue: Any) -> None:
    response = client.post("/api/cost/events", json=[])
    assert (response.status_code, response.json()) == (
        202, {"accepted": 0, "ids": [], "rejected": []})
    assert queue.count == 0


def test_timestamp_defaults_to_now(client: TestClient, queue: Any) -> None:
    event = {key: value for key, value in GOOD.items() if key != "timestamp"}
    client.post("/api/cost/events", json=event)
    assert queued_events(queue)[0]["timestamp"] == "2026-11-20T12:00:00Z"


@pytest.mark.parametrize(("body", "message"), [
    (b"", "invalid request body: Expecting value (line 1, column 1)"),
    (b"{\"project_id\": ", "invalid request body: Expecting value (line 1, column 16)"),
    (b"42", "invalid request body: expected an event object or an array of events"),
    (b"null", "invalid request body: expected an event object or an array of events"),
    (b"\"event\"", "invalid request body: expected an event object or an array of events"),
    (b"\xc3\x28", "invalid request body: not UTF-8 text"),
    (b"[" * 200_000 + b"]" * 200_000, "invalid request body: nested too deeply"),
    (b"[1" + b"0" * 5000 + b"]", "invalid request body: number out of range"),
])
def test_body_not_json(client: TestClient, queue: Any, body: bytes, message: str) -> None:
    response = client.post("/api/cost/events", content=body, headers=JSON_TYPE)
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert queue.count == 0


def test_nan_and_huge_numbers_are_rejected_per_item(client: TestClient, queue: Any) -> None:
    body = b'[{"project_id": "p", "task_id": "t", "phase": "x", "cost_usd": NaN},' \
           b' {"project_id": "p", "task_id": "t", "phase": "x", "cost_usd": 1e999},' \
           b' {"project_id": "p", "task_id": "t", "phase": "x", "input_tokens": 1e3}]'
    response = client.post("/api/cost/events", content=body, headers=JSON_TYPE)
    assert response.status_code == 400  # every event refused
    assert response.json()["rejected"] == [
        {"index": 0, "error": "cost_usd: must be a finite number"},
        {"index": 1, "error": "cost_usd: must be a finite number"},
        {"index": 2, "error": "input_tokens: must be an integer >= 0, got number"},
    ]


def test_lone_surrogates_never_break_the_response(client: TestClient, queue: Any) -> None:
    body = b'[{"project_id": "\\ud800", "task_id": "t", "phase": "x"}]'
    response = client.post("/api/cost/events", content=body, headers=JSON_TYPE)
    assert response.status_code == 400
    assert response.json()["rejected"] == [
        {"index": 0, "error": "project_id: must be valid Unicode text"}]


def test_1000_events_accepted(client: TestClient, queue: Any) -> None:
    body = [{**GOOD, "event_id": f"e-{i}"} for i in range(1000)]
    response = client.post("/api/cost/events", json=body)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1000
    assert len(queued_events(queue)) == 1000


def test_1001_events_is_413(client: TestClient, queue: Any) -> None:
    body = [{"project_id": "p", "task_id": "t", "phase": "x"}] * 1001
    response = client.post("/api/cost/events", json=body)
    assert (response.status_code, response.json()) == (
        413, {"error": "too many events: at most 1000"})
    assert queue.count == 0


def test_body_over_1_mib_from_content_length(client: TestClient, queue: Any) -> None:
    body = json.dumps({**GOOD, "task_id": "x" * 256, "pad": "y" * MIB}).encode()
    response = client.post("/api/cost/events", content=body, headers=JSON_TYPE)
    assert (response.status_code, response.json()) == (413, {"error": "request body too large"})
    assert queue.count == 0


def test_body_over_1_mib_while_reading(client: TestClient, queue: Any) -> None:
    """No Content-Length (chunked): the limit is enforced on the bytes received."""
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(MIB // 1000 + 1):
            yield b" " * 1000

    response = client.post("/api/cost/events", content=chunks(), headers=JSON_TYPE)
    assert (response.status_code, response.json()) == (413, {"error": "request body too large"})


def test_body_of_exactly_1_mib_is_read(client: TestClient, queue: Any) -> None:
    body = json.dumps(GOOD).encode()
    body += b" " * (MIB - len(body))
    response = client.post("/api/cost/events", content=body, headers=JSON_TYPE)
    assert response.status_code == 202


def test_redis_down_still_202_and_spooled(db: sqlite_utils.Database, db_path: Path,
                                         tmp_path: Path) -> None:
    settings = settings_for(db_path, tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with client_for(settings) as client:
        response = client.post("/api/cost/events", json=[GOOD, {**GOOD, "task_id": "T-2"}])
        assert response.status_code == 202
        assert response.json()["accepted"] == 2
        assert client.get("/healthz").json()["spool"] == {"pending": True}
    status = Spool(settings.spool_dir).status()
    assert status.events == 2


def test_no_redis_configured_is_503(db: sqlite_utils.Database, db_path: Path,
                                   tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path)) as client:
        response = client.post("/api/cost/events", json=GOOD)
        assert (response.status_code, response.json()) == (
            503, {"error": "event queue not available"})
        # Nothing to enqueue: still answered (rejections need no queue).
        response = client.post("/api/cost/events", json={"phase": 1})
        assert (response.status_code, response.json()["error"]) == (
            400, "project_id: is required")


def test_posted_events_reach_the_read_api(client: TestClient, queue: Any,
                                         db: sqlite_utils.Database) -> None:
    """POST → queue → (the worker's write path) → GET: the figures that went in come out."""
    body = [
        {**GOOD, "cost_usd": 1.5, "initiative_id": "I-9"},
        {**GOOD, "task_id": "T-2", "model": "claude-opus-4-5", "cost_usd": 0.25,
         "initiative_id": "I-9"},
        {**GOOD, "task_id": "T-3", "model": "claude-3-haiku-20240307", "input_tokens": 4000,
         "output_tokens": 400},  # computed: 4000 * 0.25 / 1e6 + 400 * 1.25 / 1e6 = 0.0015
    ]
    assert client.post("/api/cost/events", json=body).json()["accepted"] == 3
    events = [parse_event(wire, now=NOW) for wire in queued_events(queue)]
    record_events(db, events, PRICES)
    record_events(db, events, PRICES)  # redelivery: nothing counted twice
    breakdown = client.get("/api/cost/breakdown").json()
    assert breakdown["total_cost_usd"] == 1.7515
    assert {key: value["cost"] for key, value in breakdown["breakdown"].items()} == {
        "sonnet": 1.5, "opus": 0.25, "haiku": 0.0015}
    initiative = client.get("/api/initiatives/I-9/cost").json()
    assert initiative["total_cost_usd"] == 1.75
    assert [t["task_id"] for t in initiative["by_task"]] == ["T-1", "T-2"]
