"""Query parameters of the read endpoints: every 400 text, and never a 500."""

from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.support.api import client_for, seed, settings_for

READS = ["/api/cost/breakdown", "/api/cost/timeseries", "/api/cost/budget",
         "/api/initiatives/INIT-A/cost"]
TZ_ERROR = "invalid 'tz' parameter: unknown time zone"
LIMIT_ERROR = "invalid 'limit' parameter: use an integer from 1 to 1000"


@pytest.fixture
def client(db: sqlite_utils.Database, db_path: Path, tmp_path: Path):
    seed(db)
    with client_for(settings_for(db_path, tmp_path)) as test_client:
        yield test_client


def error(response) -> tuple[int, dict]:
    return response.status_code, response.json()


@pytest.mark.parametrize("url", READS)
def test_empty_project_is_400(client: TestClient, url: str) -> None:
    assert error(client.get(url, params={"project": ""})) == (
        400, {"error": "invalid 'project' parameter"})


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("tz", [
    "", "Not/AZone", "../etc/passwd", "/etc/localtime", "America", "America/", "UTC/",
    "utc ", " UTC", "..", ".", "Europe/../UTC", "x" * 10_000, "Europe/Paris\x00",
    "\x00", "America//New_York", "Ünïcode/Zone", "\\UTC", "zoneinfo/UTC", "tzdata",
    "__init__", "America/New_York.py",
])
def test_invalid_tz_is_400(client: TestClient, url: str, tz: str) -> None:
    assert error(client.get(url, params={"tz": tz})) == (400, {"error": TZ_ERROR})


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
                                "Etc/GMT+5", "America/Argentina/Buenos_Aires"])
def test_valid_tz(client: TestClient, tz: str) -> None:
    for url in READS:
        assert client.get(url, params={"tz": tz}).status_code == 200


@pytest.mark.parametrize("limit", ["", "0", "1001", "-1", "+5", "1.5", "abc", " 5", "5 ",
                                   "99999999999999999999", "١٢", "0x10", "1e2"])
def test_invalid_limit_is_400(client: TestClient, limit: str) -> None:
    assert error(client.get("/api/cost/breakdown", params={"limit": limit})) == (
        400, {"error": LIMIT_ERROR})


@pytest.mark.parametrize("limit", ["1", "1000", "0007"])
def test_valid_limit(client: TestClient, limit: str) -> None:
    body = client.get("/api/cost/breakdown", params={"limit": limit}).json()
    assert len(body["breakdown"]) <= int(limit)
    assert "other" in body


INVALID_BY = ("invalid 'by' parameter: use model, phase, task, initiative, model_id, provider,"
              " or project")


@pytest.mark.parametrize(("query", "message"), [
    ({"by": "projects"}, INVALID_BY),
    ({"by": ""}, INVALID_BY),
    ({"by": "MODEL"}, INVALID_BY),
    ({"period": "1y"}, "invalid 'period' parameter: use 24h, 7d, 30d, month, last-month, or all"),
    ({"period": ""}, "invalid 'period' parameter: use 24h, 7d, 30d, month, last-month, or all"),
])
def test_breakdown_errors(client: TestClient, query: dict, message: str) -> None:
    assert error(client.get("/api/cost/breakdown", params=query)) == (400, {"error": message})


@pytest.mark.parametrize(("query", "message"), [
    ({"granularity": "minute"}, "invalid granularity: use hour, day, week, or month"),
    ({"granularity": ""}, "invalid granularity: use hour, day, week, or month"),
    ({"start": "yesterday"}, "invalid start date: use YYYY-MM-DD or RFC3339"),
    ({"start": ""}, "invalid start date: use YYYY-MM-DD or RFC3339"),
    ({"start": "2026-02-30"}, "invalid start date: use YYYY-MM-DD or RFC3339"),
    ({"start": "2026-11-01T10:00:00"}, "invalid start date: use YYYY-MM-DD or RFC3339"),
    ({"end": "2026-13-01"}, "invalid end date: use YYYY-MM-DD or RFC3339"),
    ({"end": "20261101"}, "invalid end date: use YYYY-MM-DD or RFC3339"),
    ({"start": "2026-11-10", "end": "2026-11-09"}, "invalid range: start is after end"),
    ({"start": "2026-11-10T12:00:00Z", "end": "2026-11-10T11:59:59Z"},
     "invalid range: start is after end"),
    ({"granularity": "hour", "start": "2025-01-01", "end": "2026-11-20"},
     "invalid range: more than 10000 points"),
    ({"granularity": "day", "start": "1990-01-01", "end": "2026-11-20"},
     "invalid range: more than 10000 points"),
])
def test_timeseries_errors(client: TestClient, query: dict, message: str) -> None:
    assert error(client.get("/api/cost/timeseries", params=query)) == (400, {"error": message})


def test_timeseries_range_of_exactly_10000_points(client: TestClient) -> None:
    # 10,000 hours from 2025-10-10 00:00Z end at 2026-11-30 15:00Z.
    ok = client.get("/api/cost/timeseries", params={
        "granularity": "hour", "start": "2025-10-10T00:00:00Z", "end": "2026-11-30T15:59:59Z"})
    assert ok.status_code == 200
    assert len(ok.json()["series"]) == 10_000
    over = client.get("/api/cost/timeseries", params={
        "granularity": "hour", "start": "2025-10-10T00:00:00Z", "end": "2026-11-30T16:00:00Z"})
    assert error(over) == (400, {"error": "invalid range: more than 10000 points"})


@pytest.mark.parametrize("project", ["%00", "x" * 20_000, "%27;%20DROP%20TABLE%20cost_log;--",
                                     "alpha%25", "_", "%ED%A0%80", "%FF", "%C3%28"])
def test_odd_project_ids_are_not_errors(client: TestClient, project: str) -> None:
    """Raw (percent-encoded) query strings: NUL, invalid UTF-8, a surrogate, SQL, LIKE wildcards."""
    for url in READS[:3]:
        response = client.get(f"{url}?project={project}")
        assert response.status_code == 200, (url, response.text)
    body = client.get(f"/api/cost/breakdown?project={project}").json()
    assert body["breakdown"] == {}
    response = client.get(f"/api/initiatives/INIT-A/cost?project={project}")
    assert response.status_code == 404


@pytest.mark.parametrize("initiative", ["%00", "%FF%FE", "a%2Fb", "a/b", "%20", "🙂", "x" * 300])
def test_odd_initiative_ids_are_404(client: TestClient, initiative: str) -> None:
    response = client.get(f"/api/initiatives/{initiative}/cost")
    assert error(response) == (404, {"error": "initiative not found"})


@pytest.mark.parametrize("value", [
    "9999-12-31", "0001-01-01", "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "2026-11-01T00:00:00+99:99"])
@pytest.mark.parametrize("name", ["start", "end"])
@pytest.mark.parametrize("granularity", ["hour", "month"])
@pytest.mark.parametrize("tz", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_timeseries_extreme_dates_are_not_500(client: TestClient, value: str, name: str,
                                              granularity: str, tz: str) -> None:
    response = client.get("/api/cost/timeseries",
                          params={name: value, "granularity": granularity, "tz": tz})
    assert response.status_code in (200, 400), response.text
    assert set(response.json()) != {"error"} or response.json()["error"].startswith("invalid ")


READ_PARAMS = ["project", "tz", "by", "period", "limit", "granularity", "start", "end", "model"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.sampled_from(READS),
       query=st.dictionaries(st.sampled_from(READ_PARAMS), st.text(max_size=40), max_size=5))
def test_no_query_string_makes_a_500(client: TestClient, url: str, query: dict) -> None:
    response = client.get(url, params=query)
    assert response.status_code in (200, 400, 404), (query, response.text)
    assert response.headers["content-type"] == "application/json"


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.datetimes(timezones=st.timezones()), end=st.datetimes(timezones=st.timezones()),
       granularity=st.sampled_from(["hour", "day", "week", "month"]),
       tz=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati",
                           "Pacific/Pago_Pago", "Australia/Lord_Howe"]),
       date_only=st.booleans())
def test_no_range_makes_a_500(client: TestClient, start, end, granularity: str, tz: str,
                              date_only: bool) -> None:
    def text(value) -> str:
        return value.date().isoformat() if date_only else value.isoformat(timespec="seconds")

    response = client.get("/api/cost/timeseries", params={
        "start": text(start), "end": text(end), "granularity": granularity, "tz": tz})
    assert response.status_code in (200, 400), response.text
