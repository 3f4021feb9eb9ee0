"""`costlog import --format claude-code` on PostgreSQL: the cursors and the revisions of copies
(the SQLite tests, run here against a real server)."""

import pytest

from tests.integration.test_claude_code_cursors import (  # noqa: F401 - run here too
    log,
    test_a_grown_log_is_read_after_its_offset_only,
    test_a_larger_copy_later_is_the_next_revision,
    test_an_unchanged_log_is_not_opened,
    test_the_main_chain_copy_wins_across_imports,
)


@pytest.fixture
def env(db_path: str, tmp_path) -> dict[str, str | None]:
    return {"COSTLOG_DB": db_path, "HOME": str(tmp_path / "home"), "CLAUDE_CONFIG_DIR": None,
            "COSTLOG_PRICES": None}
