"""Log set-up for every costlog process: text by default, one JSON object per line on request.

``COSTLOG_LOG_FORMAT=json`` (or ``costlog --log-format json``) writes each record as
``{"time", "level", "logger", "message"}`` (plus ``"exception"`` with the traceback, kept on the
same line) to stderr; uvicorn's, RQ's and costlog's own loggers all go through the one root
handler. Uncaught exceptions are logged the same way, so a JSON log stays parseable line by line.

Secrets never reach a log: everything that logs a Redis URL passes it through
``costlog.redaction.redact`` (or ``scrub`` for error texts), and the API token is never logged.
"""

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_current = {"format": "text", "level": logging.INFO}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` (+ ``"exception"``) on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            # Wall-clock time of the log line itself, not an event time: not the injectable clock.
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        # json.dumps escapes newlines, so a multi-line message or traceback stays on one line.
        return json.dumps(entry, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when configured.

    So a CLI invoked in-process (click's CliRunner, an embedding program) never leaves a handler
    bound to a stream that was swapped in for one call and closed since.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _log_uncaught(kind: type[BaseException], error: BaseException,
                  traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("costlog").critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    logging.getLogger("costlog").critical(
        "uncaught exception in thread %s", getattr(args.thread, "name", "?"),
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Route every logger (uvicorn's and rq's included) through one root handler."""
    log_format = (log_format or "text").strip().lower()
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings too: one handler, one format
    if log_format == "json":
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    else:  # undo only our own hooks, never someone else's
        if sys.excepthook is _log_uncaught:
            sys.excepthook = sys.__excepthook__
        if threading.excepthook is _log_uncaught_in_thread:
            threading.excepthook = threading.__excepthook__
    _current.update(format=log_format, level=level)


def current() -> tuple[str, int]:
    """The format and level last configured: ``costlog up`` hands them to its children."""
    return _current["format"], _current["level"]
