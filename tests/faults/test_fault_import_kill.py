"""An import killed with SIGKILL leaves nothing running.

``costlog import`` parses in child processes (a parser for JSON lines, one reader per core for a
large Claude Code history). Killed with ``kill -9``, as the OOM killer or an impatient operator
does, the import cannot stop them itself: each child must notice that its parent is gone and end,
rather than be adopted by PID 1 and keep parsing, or wait forever on a queue nobody reads.
"""

import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from costlog import constants
from costlog.cli import children
from tests.support.claude_code import SONNET, Truth, line
from tests.support.faults import make_events, service, wait_for
from tests.support.processes import costlog_env

pytestmark = pytest.mark.e2e

#: A child still there this long after its parent's SIGKILL was left behind.
CHILD_EXIT_SECONDS = 15


def jsonl_file(tmp_path: Path) -> list[str]:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        for event in make_events(300_000, "kill"):
            out.write(json.dumps(event) + "\n")
    return ["import", str(path)]


def claude_code_tree(tmp_path: Path) -> list[str]:
    """A history past the size that is read in parallel (one reader process per core)."""
    root = tmp_path / "projects"
    written, session = 0, 0
    while written < constants.IMPORT_PARALLEL_BYTES * 1.2:
        folder = root / f"-home-dev-p{session % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"s-{session}.jsonl").open("w") as out:
            for number in range(500):
                text = line(Truth(f"msg_{session}_{number}", f"req_{session}_{number}",
                                  f"/home/dev/p{session % 7}", f"s-{session}", SONNET, 10, 20,
                                  30, 0, 40, f"2026-11-{1 + number % 19:02d}T10:00:00Z")) + "\n"
                out.write(text)
                written += len(text)
        session += 1
    return ["import", "--format", "claude-code", str(root)]


def live_children(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("make_input", [jsonl_file, claude_code_tree], ids=["jsonl", "claude-code"])
def test_sigkilled_import_leaves_no_child_running(tmp_path: Path, make_input) -> None:
    args = make_input(tmp_path)
    env = costlog_env(tmp_path, "redis://127.0.0.1:1/0", "unused")
    with service(env, *args, log=tmp_path / "import.log") as proc:
        wait_for(lambda: proc.poll() is not None or live_children(proc.pid), 60,
                 "the import's child processes")
        kids = live_children(proc.pid)
        assert proc.poll() is None and kids, "the import ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: all(gone(kid) for kid in kids), CHILD_EXIT_SECONDS,
                 f"the children {[kid.pid for kid in kids]} of the killed import to end")


def test_a_child_without_the_parent_death_signal_polls_for_its_parent(tmp_path: Path) -> None:
    """Where prctl is missing (not Linux): the fallback, in a real child of a real parent."""
    script = (
        "import os, sys, time\n"
        "from costlog.cli import children\n"
        "children._parent_death_signal = lambda: False\n"
        "parent = os.getpid()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    children.die_with_parent(parent)\n"
        "    time.sleep(120)\n"
        "    os._exit(0)\n"
        "print(child, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = psutil.Popen([psutil.Process().exe(), "-c", script], stdout=-1, text=True,
                          cwd=Path(children.__file__).parents[2], start_new_session=True)
    try:
        kid = psutil.Process(int(parent.stdout.readline()))
        assert not gone(kid)
        parent.kill()
        parent.wait(10)
        wait_for(lambda: gone(kid), children.PARENT_POLL_SECONDS * 5 + 5,
                 "the orphaned child to notice and end")
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
