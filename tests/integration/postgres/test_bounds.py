"""The exact-sum guard's tests again, on PostgreSQL (where BIGINT would raise, not round)."""



from tests.unit.store.test_bounds import *  # noqa: F403 - every test of the module runs here too

# These read SQLite's own forms: a SQLite file at an older version; json_extract's REAL.
del test_the_migration_sets_aside_what_an_older_version_stored  # noqa: F821
del test_check_and_rebuild_complete_on_an_overflowed_database  # noqa: F821


