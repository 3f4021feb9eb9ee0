"""What `costlog up` prints once the stack answers."""

from pathlib import Path

from costlog.cli.up import DemoResult, banner
from costlog.settings import Settings


def test_the_dashboard_address_comes_first() -> None:
    settings = Settings(db_path=Path("/data/costlog.db"), redis_url="redis://127.0.0.1:6390/0",
                        queue_name="costlog", spool_dir=Path("/data/spool"), project=None,
                        tz="UTC")
    text = banner(settings, "http://127.0.0.1:8787", True, DemoResult(2400, False, 2400))
    assert text.splitlines()[0] == "Dashboard: http://127.0.0.1:8787/"
    assert "costlog is up: http://127.0.0.1:8787" in text
    assert "  demo:     2400 events through the queue, recorded: 2400 new, 0 already there" in text
