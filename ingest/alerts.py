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
    from ingest.job import JobContext

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


def enqueue_deliveries(db: "sqlite_utils.Database", connection: redis.Redis, queue_name: str,
                       settings: Settings, alert_ids: Iterable[str]) -> int:
    """Put each alert's deliveries on the alerts queue of ``queue_name`` and mark it enqueued;
    the number of alerts enqueued. Redis errors are logged: the sweep tries again."""
    from costlog.store import alerts as store
    from ingest.queue import alerts_queue_name, make_queue

    queue = make_queue(alerts_queue_name(queue_name), connection)
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


def after_commit(context: "JobContext", decision: "Decision", job: rq.job.Job | None, *,
                 defer_states: bool = False) -> None:
    """In a record job, after its commit: enqueue the fired alerts' deliveries and update the
    gate's state — now, or with ``defer_states`` in the transaction where RQ marks a costlog
    job finished (``CostlogJob.gate_states``). Outside a job (no queue to use) the sweep does
    both."""
    from ingest.job import CostlogJob

    if job is None:
        return
    for alert_id in decision.fired:
        log.info("budget alert fired: %s", alert_id)
    if decision.fired:
        enqueue_deliveries(context.db, job.connection, job.origin, context.settings,
                           decision.fired)
    if defer_states and isinstance(job, CostlogJob):
        job.gate_states = decision.states
        return
    try:
        gate.publish_states(job.connection, job.origin, decision.states)
    except REDIS_ERRORS as error:
        log.warning("budget state not updated (%s); the next sweep rewrites it",
                    type(error).__name__)


def sweep(db: "sqlite_utils.Database", connection: redis.Redis, queue_name: str,
          settings: Settings) -> None:
    """Enqueue alerts left unqueued, then rewrite every budget's state (a worker, periodically)."""
    from costlog.store import alerts as store

    now = clock.now()
    late = store.unqueued(db, now - timedelta(seconds=constants.ALERT_ENQUEUE_GRACE_SECONDS))
    if late:
        log.info("sweep: enqueuing %d alert(s) left unqueued", len(late))
        enqueue_deliveries(db, connection, queue_name, settings, late)
    gate.publish_states(connection, queue_name, store.all_states(db, now), complete=True)


# -- delivery -----------------------------------------------------------------------------------


def deliver(context: "JobContext", alert_id: str, key: str, job: rq.job.Job | None) -> str:
    """One attempt of one delivery (the ``deliver_alert`` job)."""
    from costlog.store import alerts as store

    url = {alerts.url_key(url): url for url in context.settings.alert_webhooks}.get(key)
    if url is None:
        raise UnknownDelivery(f"webhook {key} is not configured (COSTLOG_ALERT_WEBHOOKS)")
    body = store.payload(context.db, alert_id)
    if body is None:
        raise UnknownDelivery(f"no alert {alert_id!r}")
    shown = alerts.redact_url(url)
    if store.delivery_status(context.db, alert_id, key) == store.DELIVERED:
        return f"already delivered to {shown}"  # a second job for it (a sweep raced a writer)
    error = webhook.post(url, body.encode(), json.loads(body)["type"], alert_id,
                         context.settings.alert_secret)
    final = job is None or not job.retries_left
    store.record_attempt(context.db, alert_id, url, error=error, final=final, now=clock.now())
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
