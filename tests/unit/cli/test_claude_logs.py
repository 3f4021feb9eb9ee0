"""Finding Claude Code's logs, and cutting them into runs for the readers."""

from pathlib import Path

import pytest

from costlog.cli.claude_logs import find_logs, split


@pytest.mark.parametrize(("sizes", "count", "runs"), [
    ([10, 10, 10, 10], 2, [["f0", "f1"], ["f2", "f3"]]),
    ([1, 1, 1, 97], 2, [["f0", "f1", "f2"], ["f3"]]),
    ([97, 1, 1, 1], 2, [["f0"], ["f1", "f2", "f3"]]),
    ([5, 5, 5], 8, [["f0"], ["f1"], ["f2"]]),
    ([0, 0], 2, [["f0", "f1"]]),
    ([], 3, []),
])
def test_split_keeps_files_in_order_in_runs_of_about_equal_bytes(
        sizes: list[int], count: int, runs: list[list[str]]) -> None:
    files = [Path(f"f{n}") for n in range(len(sizes))]
    cut = split(files, sizes, count)
    assert [[path.name for path in run] for run in cut] == runs
    assert [path for run in cut for path in run] == files


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
