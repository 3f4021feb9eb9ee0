"""The budget alerts' store tests again, on PostgreSQL: each fires once, in the write's
transaction, whichever writer gets there first."""



from tests.unit.store.test_alerts import *  # noqa: F403 - every test of the module runs here too

# Its examples copy a migrated SQLite file; the four-worker fault test covers PostgreSQL.
del test_alerts_fire_exactly_once_whatever_the_interleaving  # noqa: F821


