"""docker-compose.yml and the Dockerfile match the CLI and the settings (no engine runs here)."""

from pathlib import Path

import yaml

from costlog import constants
from costlog.cli import main
from costlog.settings import VARIABLES, Settings

ROOT = Path(__file__).parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTINGS_ENV = set(VARIABLES)
#: costlog's services and the command each runs.
COSTLOG_SERVICES = {"worker": "worker", "alert-worker": "worker", "api": "api"}


def test_the_settings_env_names_are_found() -> None:
    # The regex above really sees Settings' names (guards the checks below against a no-op).
    assert {"COSTLOG_DB", "COSTLOG_REDIS_URL", "COSTLOG_API_TOKEN", "COSTLOG_SPOOL"} <= SETTINGS_ENV
    assert Settings.from_env({"COSTLOG_QUEUE": "q"}).queue_name == "q"
    assert Settings.from_env({"COSTLOG_LOG_FORMAT": "json"}).log_format == "json"


def test_services_run_cli_commands() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"redis", "postgres", *COSTLOG_SERVICES}
    for name, command_name in COSTLOG_SERVICES.items():
        command = services[name]["command"]
        assert command[:2] == ["costlog", command_name]
        assert command_name in main.commands
        # Every option given exists on that command.
        options = {opt for param in main.commands[command_name].params for opt in param.opts}
        assert {arg for arg in command[2:] if arg.startswith("--")} <= options
        # One image for both.
        assert services[name]["build"] == "."
        assert services[name]["image"] == services["worker"]["image"]
    # Alert deliveries have a worker of their own: a slow webhook never holds up recording.
    assert services["alert-worker"]["command"] == ["costlog", "worker", "--alerts"]
    assert services["api"]["command"][2:] == [
        "--host", "0.0.0.0", "--port", str(constants.DEFAULT_PORT)]
    # One host port by default; a range for scaled replicas (COSTLOG_API_PORTS=8787-8788).
    assert services["api"]["ports"] == [
        f"${{COSTLOG_API_PORTS:-{constants.DEFAULT_PORT}}}:{constants.DEFAULT_PORT}"]
    assert "8787/healthz" in " ".join(services["api"]["healthcheck"]["test"])


def test_environment_names_are_settings() -> None:
    for name in COSTLOG_SERVICES:
        environment = COMPOSE["services"][name]["environment"]
        assert set(environment) <= SETTINGS_ENV, set(environment) - SETTINGS_ENV
        # SQLite on the volume unless COSTLOG_DB names PostgreSQL.
        assert environment["COSTLOG_DB"] == "${COSTLOG_DB:-/data/costlog.db}"
        assert environment["COSTLOG_REDIS_URL"] == "redis://redis:6379/0"
        assert environment["COSTLOG_QUEUE"] == constants.QUEUE_NAME
        # Clients never arrive over loopback: the token is required (compose fails without it).
        assert environment["COSTLOG_API_TOKEN"] == "${COSTLOG_API_TOKEN:?set COSTLOG_API_TOKEN}"
    for name in COSTLOG_SERVICES:
        assert COMPOSE["services"][name]["environment"] == COMPOSE["services"]["api"]["environment"]


def test_volume_and_redis_durability() -> None:
    services = COMPOSE["services"]
    # One named volume holds the database for both the worker and the API.
    for name in COSTLOG_SERVICES:
        assert services[name]["volumes"] == ["costlog-data:/data"]
        assert services[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert set(COMPOSE["volumes"]) == {"costlog-data", "redis-data", "postgres-data"}
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert redis["volumes"] == ["redis-data:/data"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_dockerfile_installs_the_project() -> None:
    assert DOCKERFILE.startswith("#") and "\nFROM python:3.11-slim\n" in DOCKERFILE
    assert "pip install --no-cache-dir ." in DOCKERFILE
    # Everything pyproject.toml packages (and its readme) is copied in.
    for path in ("ingest", "api", "schema", "costlog"):
        assert f"COPY {path} ./{path}" in DOCKERFILE
    assert "COPY pyproject.toml README.md worker.py ./" in DOCKERFILE
    assert "ENV COSTLOG_DB=/data/costlog.db" in DOCKERFILE
    assert "USER costlog" in DOCKERFILE
    assert 'CMD ["costlog", "api", "--host", "0.0.0.0", "--port", "8787"]' in DOCKERFILE
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests"} <= set(ignored)


def test_postgres_profile_scales_workers_and_api() -> None:
    postgres = COMPOSE["services"]["postgres"]
    # Only with --profile postgres: the default stack stays SQLite.
    assert postgres["profiles"] == ["postgres"]
    assert postgres["image"].startswith("postgres:15")
    # Byte order for text, as SQLite's: identical answers from either back end.
    assert "--locale=C" in postgres["environment"]["POSTGRES_INITDB_ARGS"]
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    header = (ROOT / "docker-compose.yml").read_text().split("\nx-costlog-env")[0]
    assert "--profile postgres up" in header and "--scale worker=3 --scale api=2" in header
    assert "COSTLOG_DB=postgresql://costlog:" in header
    assert "COSTLOG_API_PORTS=8787-8788" in header
