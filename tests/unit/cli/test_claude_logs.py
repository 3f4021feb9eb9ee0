"""Finding Claude Code's logs, gathering them into batches of whole sessions, and reading
their complete lines."""

import io
from pathlib import Path

import pytest

from costlog import constants
from costlog.cli.claude_logs import Task, batches, complete_lines, find_logs, sessions


def _tasks(*names: str) -> list[Task]:
    return [Task(Path(name), name, None) for name in names]


def test_sessions_keep_a_session_with_its_subagents_main_log_first() -> None:
    tasks = _tasks("p/s-1/subagents/agent-a.jsonl", "p/s-1.jsonl", "p/s-2.jsonl",
                   "q/s-1.jsonl", "p/s-1/subagents/agent-b.jsonl")
    assert [[task.key for task in group] for group in sessions(tasks)] == [
        ["p/s-1.jsonl", "p/s-1/subagents/agent-a.jsonl", "p/s-1/subagents/agent-b.jsonl"],
        ["p/s-2.jsonl"], ["q/s-1.jsonl"]]


@pytest.mark.parametrize(("sizes", "limit", "cut"), [
    ([10, 10, 10, 10], 20, [["f0", "f1"], ["f2", "f3"]]),
    ([1, 1, 1, 97], 50, [["f0", "f1", "f2", "f3"]]),
    ([97, 1, 1, 1], 50, [["f0"], ["f1", "f2", "f3"]]),
    ([5, 5, 5], 1, [["f0"], ["f1"], ["f2"]]),
    ([0, 0], 2, [["f0", "f1"]]),
    ([], 3, []),
])
def test_batches_gather_whole_sessions_in_order(sizes: list[int], limit: int,
                                                cut: list[list[str]]) -> None:
    groups = [_tasks(f"f{n}") for n in range(len(sizes))]
    made = list(batches(groups, {f"f{n}": size for n, size in enumerate(sizes)}, limit))
    assert [[task.key for task in batch] for batch in made] == cut


def test_a_session_is_never_cut_between_batches() -> None:
    groups = sessions(_tasks("p/s.jsonl", "p/s/subagents/a.jsonl", "p/t.jsonl"))
    made = list(batches(groups, {"p/s.jsonl": 5, "p/s/subagents/a.jsonl": 5, "p/t.jsonl": 5}, 1))
    assert [[task.key for task in batch] for batch in made] == [
        ["p/s.jsonl", "p/s/subagents/a.jsonl"], ["p/t.jsonl"]]


@pytest.mark.parametrize(("content", "start", "end", "lines"), [
    (b"a\nbb\nccc\n", 0, 9, [b"a", b"bb", b"ccc"]),
    (b"a\nbb\nccc\n", 2, 9, [b"bb", b"ccc"]),
    (b"a\nbb\ncc", 0, 7, [b"a", b"bb"]),  # the unfinished last line is not one
    (b"a\nbb\nccc\nmore", 0, 9, [b"a", b"bb", b"ccc"]),  # only up to end
    (b"a\n\nb\n", 0, 5, [b"a", b"", b"b"]),
    (b"", 0, 0, []),
])
def test_complete_lines(content: bytes, start: int, end: int, lines: list[bytes],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    for block in (1, 2, 1024):  # lines across blocks too
        monkeypatch.setattr(constants, "IMPORT_READ_BLOCK_BYTES", block)
        assert list(complete_lines(io.BytesIO(content), start, end)) == lines


def test_find_logs(tmp_path: Path) -> None:
    project = tmp_path / "projects" / "-home-dev-shop"
    (project / "s-1" / "subagents").mkdir(parents=True)
    for name in ("s-2.jsonl", "s-1.jsonl", "s-1/subagents/agent-a.jsonl", "notes.txt"):
        (project / name).write_text("{}\n")
    (project / "folder.jsonl").mkdir()
    # The same files reached twice: a folder linked to the other (~/.config/claude and
    # ~/.claude often are), and a file inside one given again.
    (tmp_path / "linked").symlink_to(tmp_path / "projects")
    found = find_logs([tmp_path / "projects", tmp_path / "linked", project / "s-2.jsonl",
                       tmp_path / "gone"])
    assert [str(p.relative_to(project)) for p in found.files] == [
        "s-1/subagents/agent-a.jsonl", "s-1.jsonl", "s-2.jsonl"]
    assert found.missing == [tmp_path / "gone"]
