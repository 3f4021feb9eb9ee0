"""COSTLOG_LOG_FORMAT=json: one JSON object per log line, no secret in any of them."""

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from costlog import logs
from costlog.cli.redis_server import free_port
from costlog.redaction import redact
from tests.support.processes import costlog_env, run


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook, threading.excepthook, logs.current())
    yield
    root.handlers[:], root.level, sys.excepthook, threading.excepthook, _ = saved
    logs._current.update(format=saved[4][0], level=saved[4][1])
    logging.captureWarnings(False)


def test_json_formatter_fields(restore_root_logging, capsys) -> None:
    logs.configure("json")
    logging.getLogger("costlog.test").warning("spooled %d events", 3)
    line = capsys.readouterr().err.strip()
    entry = json.loads(line)
    assert list(entry) == ["time", "level", "logger", "message"]
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "warning", "costlog.test", "spooled 3 events")


def test_a_traceback_stays_on_its_line(restore_root_logging, capsys) -> None:
    logs.configure("json")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logging.getLogger("costlog.test").exception("failed on %s", "line\ntwo")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "failed on line\ntwo"
    assert entry["exception"].startswith("Traceback") and "ValueError: bad" in entry["exception"]
    assert logs.current() == ("json", logging.INFO)


def test_a_redis_password_never_reaches_the_log(restore_root_logging, capsys) -> None:
    logs.configure("json")
    url = "redis://worker:s3cr%40t-pass@redis.internal:6380/2"
    logging.getLogger("costlog.worker").info("connected to %s", redact(url))
    entry = json.loads(capsys.readouterr().err)
    assert entry["message"] == "connected to redis://worker:***@redis.internal:6380/2"
    assert "s3cr" not in json.dumps(entry)


def test_uncaught_exceptions_and_warnings_are_json_lines() -> None:
    code = ("import logging, warnings; from costlog import logs; logs.configure('json'); "
            "warnings.warn('careful'); raise RuntimeError('boom')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(e["level"], e["logger"]) for e in entries] == [
        ("warning", "py.warnings"), ("critical", "costlog")]
    assert "RuntimeError: boom" in entries[1]["exception"]


def test_text_format_is_the_default(restore_root_logging, capsys) -> None:
    logs.configure()
    logging.getLogger("costlog.test").info("hello")
    line = capsys.readouterr().err.strip()
    assert line.endswith(" INFO costlog.test: hello")
    with pytest.raises(ValueError):
        logs.configure("yaml")


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
        "published 1 event (1 spooled: Redis unavailable), rejected 0")
    assert "hunter2secret" not in result.stdout + result.stderr


def test_every_setting_and_log_format_in_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name in ("COSTLOG_DB", "COSTLOG_REDIS_URL", "COSTLOG_QUEUE", "COSTLOG_SPOOL",
                 "COSTLOG_PROJECT", "COSTLOG_TZ", "COSTLOG_PRICES", "COSTLOG_API_TOKEN",
                 "COSTLOG_CORS_ORIGINS", "COSTLOG_LOG_FORMAT"):
        assert f"`{name}`" in readme, name
