"""The seed's executor hook: record_cost_to_global publishes, and never raises."""

import logging
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis

from costlog import constants
from costlog.cli.redis_server import free_port
from ingest import client
from ingest.client import Publisher
from ingest.hooks import CostMetadata, record_cost_to_global
from ingest.queue import make_queue


def meta(**overrides: Any) -> CostMetadata:
    fields: dict[str, Any] = {
        "project_id": "proj", "task_id": "TASK-7", "phase": "review",
        "model": "claude-opus-4-5-20251101",
    }
    return CostMetadata(**{**fields, **overrides})


def queued_events(redis_url: str, queue_name: str) -> list[list[dict[str, Any]]]:
    connection = redis.Redis.from_url(redis_url)
    try:
        jobs = make_queue(queue_name, connection).jobs
        assert all(job.func_name == constants.JOB_FUNCTION for job in jobs)
        return [job.args[0] for job in jobs]
    finally:
        connection.close()


def test_every_field_is_mapped(redis_url: str, queue_name: str, tmp_path: Path) -> None:
    publisher = Publisher(redis_url, queue_name, tmp_path / "spool")
    stamp = datetime(2026, 11, 20, 13, 30, 15, tzinfo=timezone(timedelta(hours=2)))
    full = meta(provider="bedrock", iteration=3, input_tokens=1200, output_tokens=340,
                cache_creation_tokens=5000, cache_read_tokens=70000, total_tokens=76540,
                cost_usd=0.4321, duration_ms=91000, initiative_id="INIT-2",
                timestamp=stamp, event_id="exec-run-1:TASK-7:review:3",
                cache_creation_1h_tokens=2000, web_search_requests=3, service_tier="standard",
                revision=1)

    assert record_cost_to_global(full, publisher=publisher) == "exec-run-1:TASK-7:review:3"
    assert queued_events(redis_url, queue_name) == [[{
        "event_id": "exec-run-1:TASK-7:review:3", "project_id": "proj", "task_id": "TASK-7",
        "phase": "review", "model": "claude-opus-4-5-20251101", "provider": "bedrock",
        "iteration": 3, "input_tokens": 1200, "output_tokens": 340,
        "cache_creation_tokens": 5000, "cache_read_tokens": 70000, "total_tokens": 76540,
        "cost_usd": 0.4321, "duration_ms": 91000, "initiative_id": "INIT-2",
        "timestamp": "2026-11-20T11:30:15Z", "cache_creation_1h_tokens": 2000,
        "web_search_requests": 3, "service_tier": "standard", "revision": 1,
    }]]


def test_defaults_fill_id_total_and_timestamp(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    publisher = Publisher(redis_url, queue_name, tmp_path / "spool")
    event_id = record_cost_to_global(meta(input_tokens=10, output_tokens=5,
                                          cache_read_tokens=100), publisher=publisher)

    assert event_id is not None
    assert uuid.UUID(event_id).version == 4
    [[event]] = queued_events(redis_url, queue_name)
    assert event == {
        "event_id": event_id, "project_id": "proj", "task_id": "TASK-7", "phase": "review",
        "model": "claude-opus-4-5-20251101", "provider": "claude", "iteration": 0,
        "input_tokens": 10, "output_tokens": 5, "cache_creation_tokens": 0,
        "cache_read_tokens": 100, "total_tokens": 115, "cost_usd": None, "duration_ms": 0,
        "initiative_id": "", "timestamp": "2026-11-20T12:00:00Z",  # conftest's fixed clock
        "cache_creation_1h_tokens": 0, "web_search_requests": 0, "service_tier": "",
    }


def test_string_timestamp_is_accepted(redis_url: str, queue_name: str, tmp_path: Path) -> None:
    publisher = Publisher(redis_url, queue_name, tmp_path / "spool")
    record_cost_to_global(meta(timestamp="2026-11-19T08:00:00+00:00"), publisher=publisher)
    [[event]] = queued_events(redis_url, queue_name)
    assert event["timestamp"] == "2026-11-19T08:00:00Z"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"input_tokens": -1}, "input_tokens"),
        ({"task_id": ""}, "task_id"),
        ({"cost_usd": float("inf")}, "cost_usd"),
        ({"iteration": True}, "iteration"),
        ({"timestamp": datetime(2026, 11, 20, 12, 0)}, "timestamp"),  # naive: no offset
        ({"event_id": "has spaces"}, "event_id"),
    ],
)
def test_invalid_metadata_is_logged_not_raised(
    overrides: dict[str, Any], field: str, redis_url: str, queue_name: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher = Publisher(redis_url, queue_name, tmp_path / "spool")
    with caplog.at_level(logging.WARNING, logger="costlog.client"):
        assert record_cost_to_global(meta(**overrides), publisher=publisher) is None
    [record] = [r for r in caplog.records if r.name == "costlog.client"]
    assert record.levelno == logging.WARNING
    assert f"invalid {field}:" in record.getMessage()
    assert queued_events(redis_url, queue_name) == []
    assert not publisher.spool.has_pending()


def test_redis_down_spools_and_returns_the_id(tmp_path: Path) -> None:
    publisher = Publisher(f"redis://127.0.0.1:{free_port()}/0", "q", tmp_path / "spool")
    event_id = record_cost_to_global(meta(), publisher=publisher)
    assert event_id is not None
    status = publisher.spool.status()
    assert (status.files, status.events) == (1, 1)


def test_invalid_metadata_with_redis_down_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = Publisher(f"redis://127.0.0.1:{free_port()}/0", "q", tmp_path / "spool")
    with caplog.at_level(logging.WARNING, logger="costlog.client"):
        assert record_cost_to_global(meta(phase=None), publisher=publisher) is None
    assert "invalid phase: is required" in caplog.text
    assert not publisher.spool.has_pending()


def test_default_publisher_without_configuration_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("COSTLOG_REDIS_URL", raising=False)
    previous = client.set_default_publisher(None)
    try:
        with caplog.at_level(logging.ERROR, logger="costlog.client"):
            assert record_cost_to_global(meta()) is None
    finally:
        client.set_default_publisher(previous)
    assert "not recorded" in caplog.text
    assert "COSTLOG_REDIS_URL" in caplog.text


def test_uses_the_default_publisher(
    redis_url: str, queue_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSTLOG_REDIS_URL", redis_url)
    monkeypatch.setenv("COSTLOG_QUEUE", queue_name)
    monkeypatch.setenv("COSTLOG_SPOOL", str(tmp_path / "spool"))
    previous = client.set_default_publisher(None)
    try:
        event_id = record_cost_to_global(meta())
    finally:
        client.set_default_publisher(previous)
    [[event]] = queued_events(redis_url, queue_name)
    assert event["event_id"] == event_id
