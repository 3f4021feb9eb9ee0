"""The CLI's store commands on PostgreSQL: migrate, import, void, reprice, aggregates
check|rebuild."""

import pytest

from costlog.store.migrations import available
from tests.integration.test_cli import (  # noqa: F401 - these tests run here too, on PostgreSQL
    invoke,
    test_aggregates_check_finds_and_rebuild_repairs,
    test_import_keeps_the_first_of_repeated_event_ids,
    test_import_twice_counts_once,
    test_reprice_dry_run_then_apply_exactly_once,
    test_void_takes_an_event_out_of_every_figure,
)


@pytest.fixture
def env(postgres_url: str, redis_url: str, queue_name: str, tmp_path) -> dict[str, str]:
    return {"COSTLOG_DB": postgres_url, "COSTLOG_REDIS_URL": redis_url,
            "COSTLOG_QUEUE": queue_name, "COSTLOG_SPOOL": str(tmp_path / "spool")}


def test_every_migration_has_a_postgresql_dialect() -> None:
    assert [(m.version, m.name) for m in available("postgresql")] == [
        (m.version, m.name) for m in available()]


def test_migrate_twice(env: dict[str, str]) -> None:
    versions = ", ".join(f"{m.version:03d}" for m in available("postgresql"))
    first = invoke(env, "migrate")
    assert first.stdout == f"applied migrations {versions} to {env['COSTLOG_DB']}\n"
    assert invoke(env, "migrate").stdout == f"{env['COSTLOG_DB']} is up to date\n"


def test_messages_never_show_the_password(env: dict[str, str]) -> None:
    url = env["COSTLOG_DB"].replace("postgres@", "postgres:hunter2@")
    result = invoke({**env, "COSTLOG_DB": url}, "migrate")
    assert "hunter2" not in result.stdout + result.stderr
    assert "postgres:***@" in result.stdout
