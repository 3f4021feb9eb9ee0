"""`costlog import --format claude-code` as a real process on a terminal: a progress bar."""

import os
import pty
import subprocess
from pathlib import Path

from tests.support.claude_code import MALFORMED, R, write_tree
from tests.support.processes import COSTLOG


def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on a pseudo-terminal; (exit status, all it wrote)."""
    parent, child = pty.openpty()
    with subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=child,
                          stderr=child) as process:
        os.close(child)
        output = b""
        while True:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            output += chunk
        status = process.wait(timeout=60)
    os.close(parent)
    return status, output.decode()


def test_progress_bar_and_summary_on_a_terminal(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    files = write_tree(root)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("COSTLOG_", "CLAUDE_"))}
    env |= {"COSTLOG_DB": str(tmp_path / "c.db"), "COSTLOG_NOW": "2026-11-20T12:00:00Z",
            "COLUMNS": "120"}
    status, output = on_a_terminal([COSTLOG, "import", "--format", "claude-code", str(root)], env)
    assert status == 0, output
    assert "reading Claude Code logs  [####################################]  100%" in output
    assert output.rstrip().endswith(
        f"imported {len(R)} events ({len(R)} new, 0 already recorded, 0 revised) from {files}"
        f" files (0 unchanged);"
        f" {MALFORMED} malformed lines skipped")
