"""The corrections' tests again, on PostgreSQL (``db`` a PostgreSQL store, conftest.py)."""

from tests.unit.store.test_revisions import *  # noqa: F403 - every test of the module runs here too
