"""RQ's floor for the ingest benchmark: the same worker class running a job that does nothing."""

from typing import Any

from rq.job import Job

NOOP = "bench.noop.noop"


def noop(events: list[dict[str, Any]]) -> None:
    """Does nothing with the events (the floor of RQ's own per-job cost)."""


class NoopJob(Job):
    """Allow-lists only :func:`noop`, like ``CostlogJob`` does for the real job."""

    @property
    def func(self):  # noqa: ANN201 - mirrors rq.job.Job.func
        if self.func_name != NOOP:
            raise RuntimeError(f"refused {self.func_name!r}")
        return noop
