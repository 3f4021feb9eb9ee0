"""`costlog report` and `costlog export` (and the API's export) again, on PostgreSQL."""



from tests.unit.cli.test_report_export import *  # noqa: F403 - every test of the module runs here


