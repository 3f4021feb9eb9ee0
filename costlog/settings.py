"""The one reader of costlog's settings: every ``COSTLOG_*`` variable is read here, nowhere else.

:meth:`Settings.from_env` reads the environment; the CLI's options of the same names override
it (:meth:`Settings.override`). Other modules take a :class:`Settings` and never look at
``os.environ`` themselves (the clock's ``COSTLOG_NOW`` pin, read once by ``costlog.clock``, is the
one exception: it must hold before any settings exist).
"""

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from costlog import constants
from costlog.errors import CostlogError
from costlog.redaction import redact

LOG_FORMATS = ("text", "json")


class SettingsError(CostlogError, ValueError):
    """A variable's value cannot be used; the message names the variable."""


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/costlog`` (``~/.local/share/costlog``): the default database's folder."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "costlog"


#: A ``COSTLOG_DB`` starting so names a PostgreSQL database.
SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """Whether the database ``target`` (from :func:`database`) is a PostgreSQL URL."""
    return isinstance(target, str) and target.startswith(SCHEMES)


def database(value: str | Path) -> Path | str:
    """``COSTLOG_DB``: a ``postgresql://`` URL (kept as text), else a SQLite file's path."""
    text = str(value)
    return text if text.startswith(SCHEMES) else Path(text)


def database_label(target: Path | str) -> str:
    """The database as messages and logs name it: a URL without its password."""
    if not isinstance(target, str):
        return str(target)
    return redact(target)


def beside(target: Path | str, name: str) -> Path:
    """A file or folder next to the database (a server's database: in the data directory)."""
    return Path(target).parent / name if isinstance(target, Path) else data_dir() / name


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"use a whole number of at least 1, got {value!r}")
    return int(value)


def _default_queries() -> int:
    return constants.QUERIES_PER_CORE * (os.cpu_count() or 1)


def _webhooks(value: str) -> tuple[str, ...]:
    urls = _csv(value)
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("use comma-separated http:// or https:// URLs")
    return urls


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"use {' or '.join(LOG_FORMATS)}")
    return value


@dataclass(frozen=True)
class Settings:
    #: A SQLite file, or a PostgreSQL URL (str).
    db_path: Path | str = field(default_factory=lambda: data_dir() / "costlog.db")
    redis_url: str | None = None
    queue_name: str = constants.QUEUE_NAME
    spool_dir: Path = field(default_factory=lambda: data_dir() / "spool")
    project: str | None = None
    tz: str = "UTC"
    prices_path: Path | None = None
    api_token: str | None = None
    cors_origins: tuple[str, ...] = ()
    #: Host header names served besides the bind address and loopback (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    #: Heavy reads run at once; more wait (api/limits.py).
    max_concurrent_queries: int = field(default_factory=_default_queries)
    log_format: str = "text"
    # Webhook URLs may hold a token: neither they nor the secret show in a repr.
    alert_webhooks: tuple[str, ...] = field(default=(), repr=False)
    alert_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 only: Collection[str] | None = None) -> "Settings":
        """Settings from ``env`` (default: the process environment); unset or empty → default.

        ``only`` names the fields to read (the rest keep their defaults): the executor's client
        reads just what publishing needs, so an unrelated bad variable cannot stop it.
        Raises :class:`SettingsError` naming the variable when a value cannot be used.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for variable, (name, convert) in VARIABLES.items():
            raw = env.get(variable, "").strip()
            if not raw or (only is not None and name not in only):
                continue
            try:
                values[name] = convert(raw)
            except ValueError as error:
                raise SettingsError(f"{variable}: {error}") from None
        if "db_path" not in values:
            values["db_path"] = data_dir(env) / "costlog.db"
        values.setdefault("spool_dir", beside(values["db_path"], "spool"))
        return cls(**values)

    def override(self, **options: Any) -> "Settings":
        """These settings with the options that were given (None: not given) put over them.

        As with ``COSTLOG_DB`` alone, a database given without a spool keeps its spool beside it.
        """
        chosen = {name: value for name, value in options.items() if value is not None}
        if "db_path" in chosen and "spool_dir" not in chosen:
            chosen["db_path"] = database(chosen["db_path"])
            chosen["spool_dir"] = beside(chosen["db_path"], "spool")
        return dataclasses.replace(self, **chosen)

    def redis_url_or_default(self) -> str:
        """The Redis URL, or the conventional local one when none is set."""
        return self.redis_url or constants.DEFAULT_REDIS_URL


#: Every variable costlog reads: its Settings field and how its text becomes the value.
VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "COSTLOG_DB": ("db_path", database),
    "COSTLOG_REDIS_URL": ("redis_url", str),
    "COSTLOG_QUEUE": ("queue_name", str),
    "COSTLOG_SPOOL": ("spool_dir", Path),
    "COSTLOG_PROJECT": ("project", str),
    "COSTLOG_TZ": ("tz", str),
    "COSTLOG_PRICES": ("prices_path", Path),
    "COSTLOG_API_TOKEN": ("api_token", str),
    "COSTLOG_CORS_ORIGINS": ("cors_origins", _csv),
    "COSTLOG_ALLOWED_HOSTS": ("allowed_hosts", _csv),
    "COSTLOG_MAX_CONCURRENT_QUERIES": ("max_concurrent_queries", _positive),
    "COSTLOG_LOG_FORMAT": ("log_format", _log_format),
    "COSTLOG_ALERT_WEBHOOKS": ("alert_webhooks", _webhooks),
    "COSTLOG_ALERT_SECRET": ("alert_secret", str),
}

#: The variable of each field, for messages and ``--help`` ("[COSTLOG_DB]").
VARIABLE_OF = {name: variable for variable, (name, _) in VARIABLES.items()}

