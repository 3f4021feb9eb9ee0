"""The second allowed job function (alert delivery), its arguments and retry schedule, and the
gate's verdict over hostile state, on fakeredis."""

import threading
from collections.abc import Iterator

import fakeredis
import pytest
import rq
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from costlog import constants
from costlog.domain.pricing import load_prices
from costlog.settings import Settings, SettingsError
from ingest import alerts, gate, job
from ingest.job import ALLOWED_FUNCTIONS, CostlogJob, JobContext, JobRefused, deliver_alert
from ingest.queue import make_queue
from ingest.worker import build_worker

pytestmark = pytest.mark.usefixtures("keep_signal_handlers")


@pytest.fixture
def context(db) -> Iterator[JobContext]:
    ctx = JobContext(db=db, prices=load_prices(None),
                     settings=Settings(alert_webhooks=("http://127.0.0.1:9/hook",)))
    previous = job.set_context(ctx)
    yield ctx
    job.set_context(previous)


@pytest.fixture
def queue(queue_name: str) -> rq.Queue:
    return make_queue(queue_name, fakeredis.FakeRedis())


def run(queue: rq.Queue) -> None:
    build_worker(Settings(queue_name=queue.name), queue.connection, threading.Event()).work(
        burst=True)


def failure(enqueued: rq.job.Job) -> str:
    result = enqueued.latest_result()
    assert result is not None
    return result.exc_string or ""


def test_exactly_two_functions_are_allowed() -> None:
    assert set(ALLOWED_FUNCTIONS) == {"ingest.job.record_events", "ingest.job.deliver_alert"}
    fake = fakeredis.FakeRedis()
    assert CostlogJob.create(constants.DELIVER_FUNCTION, args=("a", "b"), connection=fake,
                             serializer=JSONSerializer).func is deliver_alert
    other = CostlogJob.create("ingest.alerts.post", args=("http://x", b"", "", "", None),
                              connection=fake, serializer=JSONSerializer)
    with pytest.raises(JobRefused, match="^job refused: function 'ingest.alerts.post' is not"
                                         " 'ingest.job.record_events' or"
                                         " 'ingest.job.deliver_alert'$"):
        _ = other.func


@pytest.mark.parametrize("args", [(), ("only-one",), ("a", 2), ("a", "b", "c")])
def test_deliver_arguments_are_checked(queue: rq.Queue, context: JobContext,
                                       args: tuple) -> None:
    bad = queue.enqueue(constants.DELIVER_FUNCTION, args=args, retry=alerts.delivery_retry())
    run(queue)
    fetched = queue.fetch_job(bad.id)
    assert fetched.get_status() == JobStatus.FAILED
    assert ("InvalidJob: job arguments: deliver_alert takes two strings, an alert id and a"
            " webhook key") in failure(fetched)
    assert queue.scheduled_job_registry.get_job_ids() == []  # not retried


def test_a_webhook_that_is_not_configured_is_refused(queue: rq.Queue,
                                                     context: JobContext) -> None:
    # A job naming any other address (written to Redis by someone else) posts nothing.
    stray = queue.enqueue(constants.DELIVER_FUNCTION, args=("budget.threshold:p:2026-11",
                                                             "0123456789abcdef"))
    run(queue)
    assert "InvalidJob: webhook 0123456789abcdef is not configured" in failure(
        queue.fetch_job(stray.id))


def test_retry_schedule() -> None:
    retry = alerts.delivery_retry()
    assert retry.intervals[0] <= 30  # the first retry within 30 s
    assert retry.max + 1 >= 5  # at least five attempts
    assert sum(retry.intervals) >= 600  # over at least ten minutes


# -- the gate's verdict over what Redis holds ----------------------------------------------------

READY = b"1"
OVER = b'{"month": "2026-11", "timezone": "UTC", "spent_usd": 12.5, "limit_usd": 10,' \
       b' "hard_limit": true}'


@pytest.mark.parametrize(("raw", "expected"), [
    ([None, None, None], (True, gate.NO_STATE)),
    ([READY, None, None], (True, None)),
    ([READY, OVER, None],
     (False, "budget exceeded: $12.50 spent of $10.00 limit for November 2026")),
    ([READY, None, OVER],
     (False, "budget exceeded: $12.50 spent of $10.00 limit for November 2026")),
    ([READY, b"not json", None], (True, "budget state unreadable for 'proj'")),
    ([READY, b'{"month": 1}', None], (True, "budget state unreadable for 'proj'")),
    ([READY, OVER.replace(b"UTC", b"Nowhere/Land"), None],
     (False, "budget exceeded: $12.50 spent of $10.00 limit for November 2026")),
])
def test_verdict(raw: list, expected: tuple) -> None:
    assert gate.verdict(raw, ["proj", "*"]) == expected


def test_gate_never_raises() -> None:
    class Broken:
        def hmget(self, *args: object) -> None:
            raise RuntimeError("boom")

    assert gate.Gate(Broken(), "q").allows("p") == (True, "budget gate error: RuntimeError")  # type: ignore[arg-type]
    assert gate.Gate(None, "q").allows("p") == (True, gate.NO_REDIS)
    for bad in (None, "", 5):
        assert gate.Gate(fakeredis.FakeRedis(), "q").allows(bad) == (  # type: ignore[arg-type]
            True, "budget gate error: project_id must be a non-empty string")


# -- settings ------------------------------------------------------------------------------------


def test_webhook_settings() -> None:
    settings = Settings.from_env({"COSTLOG_ALERT_WEBHOOKS": " https://a.example/x?t=1 ,"
                                                            "http://b.example/y ",
                                  "COSTLOG_ALERT_SECRET": "k"})
    assert settings.alert_webhooks == ("https://a.example/x?t=1", "http://b.example/y")
    assert settings.alert_secret == "k"
    assert "t=1" not in repr(settings) and "'k'" not in repr(settings)
    assert Settings.from_env({}).alert_webhooks == ()


@pytest.mark.parametrize("value", ["ftp://a.example/x", "hooks.example.com/x", "https://"])
def test_webhook_settings_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="^COSTLOG_ALERT_WEBHOOKS: use comma-separated"
                                            " http:// or https:// URLs$"):
        Settings.from_env({"COSTLOG_ALERT_WEBHOOKS": value})
