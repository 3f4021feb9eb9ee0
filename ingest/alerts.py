"""The queue side of budget alerts, after the commit that decided them.

* :func:`after_commit` puts each fired alert's deliveries on the alerts queue (``<queue>-alerts``,
  one RQ job per alert and webhook, ``ingest.job.deliver_alert``) and the touched budgets' month
  spend into Redis, where the budget gate reads it (``ingest.gate``).
* :func:`deliver` is that job, run by the alert worker (``costlog worker --alerts``): one signed
  POST (``ingest.webhook``), retried with backoff by RQ, the outcome of each attempt recorded in
  ``cost_alert_deliveries``.
* :func:`sweep` (every worker, every ALERT_SWEEP_SECONDS) enqueues what could not be enqueued
  after its commit (Redis was down, the writer was ``costlog import``) and rewrites the whole
  budget state.

Delivery is at least once: a receiver de-duplicates on the body's ``id``.
"""

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import redis
import rq

from costlog import clock, constants
from costlog.domain import alerts
from costlog.errors import CostlogError
from costlog.settings import Settings
from ingest import gate, webhook

if TYPE_CHECKING:
    import sqlite_utils

    from costlog.store.alerts import Decision

log = logging.getLogger("costlog.alerts")

REDIS_ERRORS = (redis.RedisError, OSError)


class UnknownDelivery(CostlogError, ValueError):
    """A delivery job names an alert or webhook that does not exist (any more)."""


class DeliveryFailed(CostlogError, RuntimeError):
    """One attempt did not get a 2xx; RQ retries the job."""


def delivery_retry() -> rq.Retry:
    return rq.Retry(max=len(constants.ALERT_RETRY_INTERVALS),
                    interval=list(constants.ALERT_RETRY_INTERVALS))


# -- after a commit -----------------------------------------------------------------------------


def enqueue_deliveries(db: "sqlite_utils.Database", queue: rq.Queue, settings: Settings,
                       alert_ids: Iterable[str]) -> int:
    """Put each alert's deliveries on ``queue`` (the alerts queue) and mark it enqueued; the
    number of alerts enqueued. Redis errors are logged: the sweep tries again."""
    from costlog.store import alerts as store

    done = 0
    for alert_id in alert_ids:
        try:
            for url in settings.alert_webhooks:
                queue.enqueue(
                    constants.DELIVER_FUNCTION, args=(alert_id, alerts.url_key(url)),
                    description=f"deliver {alert_id} to {alerts.redact_url(url)}",
                    job_timeout=constants.JOB_TIMEOUT_SECONDS,
                    result_ttl=constants.RESULT_TTL_SECONDS,
                    failure_ttl=constants.FAILED_JOB_TTL_SECONDS,
                    retry=delivery_retry(),
                )
        except REDIS_ERRORS as error:
            log.warning("alert %s not enqueued (%s); a worker's sweep retries",
                        alert_id, type(error).__name__)
            continue
        store.mark_enqueued(db, alert_id, settings.alert_webhooks, clock.now())
        done += 1
    return done


def after_commit(db: "sqlite_utils.Database", settings: Settings, decision: "Decision",
                 alerts_queue: rq.Queue) -> None:
    """After the commit that fired them: enqueue the alerts' deliveries on ``alerts_queue``."""
    for alert_id in decision.fired:
        log.info("budget alert fired: %s", alert_id)
    if decision.fired:
        enqueue_deliveries(db, alerts_queue, settings, decision.fired)


def publish_states(connection: redis.Redis, queue_name: str, decision: "Decision") -> None:
    """The gate's state after a commit, now; a Redis failure is logged (the sweep rewrites it)."""
    try:
        gate.publish_states(connection, queue_name, decision.states)
    except REDIS_ERRORS as error:
        log.warning("budget state not updated (%s); a worker's sweep rewrites it",
                    type(error).__name__)


def sweep(db: "sqlite_utils.Database", connection: redis.Redis, queue_name: str,
          settings: Settings, alerts_queue: rq.Queue) -> None:
    """Enqueue alerts left unqueued on ``alerts_queue``, then rewrite every budget's state (a
    worker, periodically)."""
    from costlog.store import alerts as store

    now = clock.now()
    late = store.unqueued(db, now - timedelta(seconds=constants.ALERT_ENQUEUE_GRACE_SECONDS))
    if late:
        log.info("sweep: enqueuing %d alert(s) left unqueued", len(late))
        enqueue_deliveries(db, alerts_queue, settings, late)
    gate.publish_states(connection, queue_name, store.all_states(db, now), complete=True)


# -- delivery -----------------------------------------------------------------------------------


def deliver(db: "sqlite_utils.Database", settings: Settings, alert_id: str, key: str,
            job: rq.job.Job | None) -> str:
    """One attempt of one delivery (the ``deliver_alert`` job)."""
    from costlog.store import alerts as store

    url = {alerts.url_key(url): url for url in settings.alert_webhooks}.get(key)
    if url is None:
        raise UnknownDelivery(f"webhook {key} is not configured (COSTLOG_ALERT_WEBHOOKS)")
    body = store.payload(db, alert_id)
    if body is None:
        raise UnknownDelivery(f"no alert {alert_id!r}")
    shown = alerts.redact_url(url)
    if store.delivery_status(db, alert_id, key) == store.DELIVERED:
        return f"already delivered to {shown}"  # a second job for it (a sweep raced a writer)
    error = webhook.post(url, body.encode(), json.loads(body)["type"], alert_id,
                         settings.alert_secret)
    final = job is None or not job.retries_left
    store.record_attempt(db, alert_id, url, error=error, final=final, now=clock.now())
    if error is not None:
        log.warning("alert %s to %s: %s%s", alert_id, shown, error,
                    "; giving up" if final else "; will retry")
        raise DeliveryFailed(f"{shown}: {error}")
    log.info("alert %s delivered to %s", alert_id, shown)
    return f"delivered to {shown}"


def send_test(settings: Settings, status: dict[str, Any]) -> list[dict[str, Any]]:
    """POST a ``budget.test`` alert about ``status`` (a budget status) to every webhook now;
    each URL's outcome."""
    now = clock.now()
    fired_at = now.isoformat(timespec="seconds")
    ident = alerts.alert_id(alerts.TEST, status["project"], fired_at)
    body = alerts.encode(alerts.payload(alerts.TEST, status, fired_at, ident))
    urls = settings.alert_webhooks
    # All at once: the answer comes within one attempt's deadline, however many are slow.
    with ThreadPoolExecutor(max_workers=max(len(urls), 1)) as pool:
        errors = list(pool.map(
            lambda url: webhook.post(url, body, alerts.TEST, ident, settings.alert_secret), urls))
    return [{"url": alerts.redact_url(url), "delivered": error is None, "error": error}
            for url, error in zip(urls, errors, strict=True)]
