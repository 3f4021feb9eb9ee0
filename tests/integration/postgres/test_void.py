"""The void endpoint's tests again, on PostgreSQL (``db`` a PostgreSQL store, conftest.py)."""

from tests.unit.api.test_void import *  # noqa: F403 - every test of the module runs here too
