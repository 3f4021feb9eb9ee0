"""costlog's HTTP API (Starlette): reads over the rollups, event ingest, health and metrics."""

from api.app import create_app
from api.routes import ENDPOINTS, routes
from api.server import serve

__all__ = ["ENDPOINTS", "create_app", "routes", "serve"]
