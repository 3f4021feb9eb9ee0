"""``costlog api``: the app under uvicorn."""

import gc
import sys

import uvicorn

from api.app import create_app
from costlog.constants import DEFAULT_HOST, DEFAULT_PORT, SWITCH_INTERVAL_SECONDS
from costlog.settings import Settings


def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run the API until interrupted; 127.0.0.1:8787 unless told otherwise.

    Uvicorn's access log shows method, path and query string only: the token travels in a
    header and is never logged. X-Forwarded-For is trusted from loopback proxies only
    (uvicorn's default), so a local reverse proxy cannot make remote clients look local.
    """
    app = create_app(settings)
    # Heavy reads are Python-bound threads: with the GIL handed over every 5 ms (the default),
    # each of /healthz's many short steps waited behind them (78 ms median under 40 large
    # series); handed over more often, it is served between their slices.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # The objects made so far (modules, the app) live as long as the process: kept out of the
    # collector's full passes, which otherwise walked all ~72,000 of them (51 ms, once every
    # ~60 large series) in the middle of some request.
    gc.collect()
    gc.freeze()
    # log_config=None: uvicorn's loggers go through the process's handler (text or JSON lines).
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", server_header=False)
