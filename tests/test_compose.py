"""docker-compose.yml and the Dockerfile match the CLI and the settings (no engine runs here)."""

import re
from pathlib import Path

import yaml

from costlog.cli import main

ROOT = Path(__file__).parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS_SOURCE = (ROOT / "ingest" / "settings.py").read_text()
SETTINGS_ENV = set(re.findall(r'"(COSTLOG_[A-Z_]+)"', SETTINGS_SOURCE))


def test_services_run_cli_commands() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"redis", "worker", "api"}
    for name in ("worker", "api"):
        command = services[name]["command"]
        assert command[0] == "costlog"
        assert command[1] == name and command[1] in main.commands
        assert services[name]["build"] == "."
    assert services["api"]["command"][2:] == ["--host", "0.0.0.0", "--port", "8787"]
    assert services["api"]["ports"] == ["8787:8787"]
    assert {p.opts[0] for p in main.commands["api"].params} >= {"--host", "--port"}


def test_environment_names_are_settings() -> None:
    for name in ("worker", "api"):
        environment = COMPOSE["services"][name]["environment"]
        assert set(environment) <= SETTINGS_ENV
        assert environment["COSTLOG_REDIS_URL"] == "redis://redis:6379/0"
        # Clients never arrive over loopback: the token is required (compose fails without it).
        assert environment["COSTLOG_API_TOKEN"] == "${COSTLOG_API_TOKEN:?set COSTLOG_API_TOKEN}"


def test_volume_and_redis_durability() -> None:
    services = COMPOSE["services"]
    assert services["worker"]["volumes"] == services["api"]["volumes"] == ["costlog-data:/data"]
    assert set(COMPOSE["volumes"]) == {"costlog-data", "redis-data"}
    redis = services["redis"]
    assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name in ("worker", "api"):
        assert services[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_dockerfile_installs_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    for package in ("ingest", "api", "schema", "costlog"):
        assert f"COPY {package} ./{package}" in dockerfile
