"""costlog's ingest package. ``from ingest import publish, publish_many`` is the executor API;
``from ingest import budget_allows`` is the budget gate it asks before a task.

Both are imported lazily: ``costlog.constants``, ``costlog.domain.event`` and friends must stay
importable without pulling in redis and rq, and without an import cycle through the client.
"""

from typing import Any

__all__ = ["budget_allows", "publish", "publish_many"]


def __getattr__(name: str) -> Any:
    if name == "budget_allows":
        from ingest import gate

        return gate.budget_allows
    if name in __all__:
        from ingest import client

        return getattr(client, name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
