"""The image's install (`pip install .` of what the Dockerfile copies) holds the whole project:
every module, migration, template and static file, not only the top-level packages."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
#: What the Dockerfile copies before `pip install .` (tests/unit/cli/test_compose.py checks it).
FILES = ("pyproject.toml", "README.md", "worker.py")
FOLDERS = ("ingest", "api", "schema", "costlog")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


def test_the_wheel_holds_every_file_of_the_packages(tmp_path: Path) -> None:
    source = tmp_path / "app"
    source.mkdir()
    for name in FILES:
        shutil.copy(ROOT / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, source / folder, ignore=SKIPPED)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
         str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("costlog-*.whl")
    packaged = {name for name in zipfile.ZipFile(wheel).namelist()
                if ".dist-info/" not in name}
    expected = {path.relative_to(source).as_posix()
                for folder in FOLDERS for path in (source / folder).rglob("*") if path.is_file()}
    assert packaged - {"worker.py"} == expected
    # The parts a top-level-only package list left out of the image.
    assert {"costlog/cli/__init__.py", "costlog/store/write.py", "api/static/app.js",
            "api/templates/dashboard.html", "schema/postgresql/001_cost_log.sql"} <= packaged


def make_commands(target: str, venv: Path) -> list[str]:
    """The commands ``make TARGET`` would run from a fresh checkout (no venv yet)."""
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    return dry.stdout.splitlines()


def test_make_up_installs_what_running_needs_not_the_test_extras(tmp_path: Path) -> None:
    installs = [line for line in make_commands("up", tmp_path / "venv") if "pip install" in line]
    assert any(line.endswith("pip install -q -e .") for line in installs), installs
    assert not any("[test]" in line for line in installs), installs


def test_make_test_installs_the_test_extras(tmp_path: Path) -> None:
    installs = [line for line in make_commands("test", tmp_path / "venv")
                if "pip install" in line]
    assert any(line.endswith("pip install -q -e '.[test]'") for line in installs), installs
