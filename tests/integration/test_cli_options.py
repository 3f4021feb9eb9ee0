"""Settings options before or after the command, over the variables; worker.py = costlog worker."""

import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from costlog.cli import main, worker

ROOT = Path(__file__).parents[2]


def options_of(command: click.Command) -> dict[str, tuple]:
    return {param.name: (tuple(param.opts), param.default) for param in command.params
            if param.name != "help"}


@pytest.mark.parametrize("args", [
    ["--db", "{db}", "migrate"],
    ["migrate", "--db", "{db}"],
    ["--db", "{other}", "migrate", "--db", "{db}"],  # the later one, after the command, wins
])
def test_db_option_before_or_after_the_command(tmp_path: Path, args: list[str]) -> None:
    db, other = tmp_path / "chosen.db", tmp_path / "other.db"
    argv = [arg.format(db=db, other=other) for arg in args]
    result = CliRunner().invoke(main, argv, env={"COSTLOG_DB": str(tmp_path / "env.db")})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("applied migrations 001")
    assert result.output.rstrip().endswith(f"to {db}")
    assert db.exists() and not other.exists() and not (tmp_path / "env.db").exists()


def test_an_unusable_variable_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["migrate"], env={"COSTLOG_DB": str(tmp_path / "x.db"),
                                                        "COSTLOG_LOG_FORMAT": "yaml"})
    assert result.exit_code == 2
    assert "Error: COSTLOG_LOG_FORMAT: use text or json" in result.output


#: Commands that read no settings: ``costlog version`` answers whatever COSTLOG_* holds.
SETTINGLESS = {"version"}


def test_every_command_takes_the_settings_options() -> None:
    for name, command in main.commands.items():
        if name in SETTINGLESS:
            continue
        commands = command.commands.values() if isinstance(command, click.Group) else [command]
        for leaf in commands:
            assert {"--db", "--redis-url", "--queue", "--spool", "--prices", "--log-format"} <= {
                opt for param in leaf.params for opt in param.opts}, name


def test_worker_py_is_costlog_worker() -> None:
    namespace = runpy.run_path(str(ROOT / "worker.py"), run_name="not_main")
    assert namespace["worker"] is worker
    assert options_of(worker) == options_of(main.commands["worker"])


def test_worker_py_without_a_redis_url_waits_for_the_default_one(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COSTLOG_")}
    env["COSTLOG_DB"] = str(tmp_path / "costlog.db")
    proc = subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--burst"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert "Traceback" not in stderr
    # Nothing listens there: it waits and says so; if a Redis does, a burst ends cleanly.
    assert "Redis unavailable at redis://127.0.0.1:6379/0" in stderr or proc.returncode == 0
