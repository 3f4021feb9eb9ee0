"""Headless Chromium (Debian's, driven by Playwright) and a live API process for it to load.

No browser is ever downloaded: Playwright drives the system's Chromium through
``executable_path`` (``COSTLOG_CHROMIUM``, else ``/usr/bin/chromium`` or one on PATH).
"""

import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Browser, Playwright

from tests.support.processes import COSTLOG, terminate, wait_for

#: Chromium flags for a sandbox-less container with no outside network: the background
#: services would otherwise try (and fail) to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_executable() -> str | None:
    configured = os.environ.get("COSTLOG_CHROMIUM")
    if configured:
        return configured
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def launch(playwright: Playwright) -> Browser:
    """The system Chromium, headless; AssertionError (never a skip) when there is none."""
    executable = chromium_executable()
    assert executable, ("no Chromium found: install Debian's `chromium` (apt-get install chromium)"
                        " or set COSTLOG_CHROMIUM to its path")
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def live_api(db_path: Path, redis_url: str, now: datetime, log: Path,
             **env_extra: str) -> Iterator[str]:
    """``costlog api`` on a free loopback port over ``db_path``, its clock pinned to ``now``;
    yields its base URL and always stops it."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("COSTLOG_")}
    env |= {"COSTLOG_DB": str(db_path), "COSTLOG_REDIS_URL": redis_url,
            "COSTLOG_QUEUE": "costlog-browser", "COSTLOG_SPOOL": str(db_path.parent / "spool"),
            "COSTLOG_NOW": now.isoformat(), **env_extra}
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen([COSTLOG, "api", "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: _answers(f"{url}/healthz") or proc.poll() is not None, 30,
                     "the API to answer")
            assert proc.poll() is None, log.read_text()
            yield url
        finally:
            terminate(proc)
