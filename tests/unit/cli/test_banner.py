"""What `costlog up` prints once the stack answers."""

from pathlib import Path

import pytest

from costlog.cli.up import DemoResult, banner, claude_code_env
from costlog.settings import Settings


def test_the_dashboard_address_comes_last() -> None:
    settings = Settings(db_path=Path("/data/costlog.db"), redis_url="redis://127.0.0.1:6390/0",
                        queue_name="costlog", spool_dir=Path("/data/spool"), project=None,
                        tz="UTC")
    text = banner(settings, "http://127.0.0.1:8787", True, DemoResult(2400, False, 2400))
    assert text.splitlines()[-1] == "Dashboard: http://127.0.0.1:8787/"
    assert text.count("Dashboard:") == 1
    assert text.splitlines()[0] == "costlog is up: http://127.0.0.1:8787"
    assert "costlog is up: http://127.0.0.1:8787" in text
    assert "  demo:     2400 events through the queue, recorded: 2400 new, 0 already there" in text


def test_the_lines_that_point_claude_code_here(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(db_path=Path("/data/costlog.db"), redis_url=None, project="web app",
                        api_token="s3cret")
    text = banner(settings, "http://127.0.0.1:8787", False, None)
    assert claude_code_env("http://127.0.0.1:8787", settings) == [
        "Claude Code, live (paste into the shell that runs claude):",
        "  export CLAUDE_CODE_ENABLE_TELEMETRY=1",
        "  export OTEL_LOGS_EXPORTER=otlp",
        "  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8787",
        "  export OTEL_RESOURCE_ATTRIBUTES=costlog.project=web%20app",
        "  export OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20$COSTLOG_API_TOKEN",
    ]
    assert "\n".join(claude_code_env("http://127.0.0.1:8787", settings)) in text
    assert "s3cret" not in text
    # Without COSTLOG_PROJECT: the directory's name; without a token: no header line.
    monkeypatch.chdir(tmp_path)
    lines = claude_code_env("http://[::1]:9000", Settings(db_path=Path("/d.db"), project=None))
    assert lines[4:] == ["  export OTEL_EXPORTER_OTLP_ENDPOINT=http://[::1]:9000",
                         f"  export OTEL_RESOURCE_ATTRIBUTES=costlog.project={tmp_path.name}"]
