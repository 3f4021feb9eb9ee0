"""COSTLOG_LOG_FORMAT=json: one JSON object per log line, no secret in any of them."""

import json
import logging
from pathlib import Path

import pytest

from costlog import logs
from costlog.redis_server import free_port
from tests.e2e import costlog_env, run


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved


def test_json_formatter_fields(restore_root_logging, capsys) -> None:
    logs.configure("json")
    logging.getLogger("costlog.test").warning("spooled %d events", 3)
    line = capsys.readouterr().err.strip()
    entry = json.loads(line)
    assert list(entry) == ["time", "level", "logger", "message"]
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "warning", "costlog.test", "spooled 3 events")


def test_emit_logs_json_lines_without_the_password(tmp_path: Path) -> None:
    secret_url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    env = costlog_env(tmp_path, secret_url, "costlog") | {"COSTLOG_LOG_FORMAT": "json"}
    event = {"project_id": "p", "task_id": "T", "phase": "spec", "cost_usd": 1}
    # Nothing listens there: the client logs the outage and spools the event.
    result = run(env, "emit", "-", stdin=json.dumps(event) + "\n", timeout=30)
    assert result.returncode == 0
    entries = [json.loads(line) for line in result.stderr.splitlines()[:-1]]
    assert [(e["level"], e["logger"]) for e in entries] == [("warning", "costlog.client")]
    assert "redis://:***@127.0.0.1" in entries[0]["message"]
    assert result.stderr.splitlines()[-1] == (
        "published 1 events (1 spooled: Redis unavailable), rejected 0")
    assert "hunter2secret" not in result.stdout + result.stderr


def test_every_setting_and_log_format_in_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name in ("COSTLOG_DB", "COSTLOG_REDIS_URL", "COSTLOG_QUEUE", "COSTLOG_SPOOL",
                 "COSTLOG_PROJECT", "COSTLOG_TZ", "COSTLOG_PRICES", "COSTLOG_API_TOKEN",
                 "COSTLOG_CORS_ORIGINS", "COSTLOG_LOG_FORMAT"):
        assert f"`{name}`" in readme, name
