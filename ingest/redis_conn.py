"""Redis clients for costlog: fail-fast for executors, bounded for the worker and API.

redis-py retries a failed connection with backoff by default, so a refused connect takes about
4.5 s even with a tiny connect timeout. Neither client here retries on its own:
the executor client falls back to its spool at once, and the worker has its own wait loop.
"""

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from costlog import constants


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def connect(url: str, *, fail_fast: bool = False) -> redis.Redis:
    """A client for ``url``; nothing is sent until the first command.

    ``fail_fast=True`` (executor hooks): 100 ms timeouts, no retry — a dead Redis costs one
    refused connect, then the caller spools. Otherwise (worker, API): a few seconds of timeout so
    a busy server is not mistaken for a dead one, still without a hidden retry loop.
    """
    if fail_fast:
        connect_timeout = constants.CONNECT_TIMEOUT_SECONDS
        socket_timeout = constants.SOCKET_TIMEOUT_SECONDS
    else:
        connect_timeout = constants.SERVICE_CONNECT_TIMEOUT_SECONDS
        socket_timeout = constants.SERVICE_SOCKET_TIMEOUT_SECONDS
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        retry=_no_retry(),
    )
