"""A private PostgreSQL server for the tests: initdb + pg_ctl into a temporary directory.

Nothing runs until a test asks for it. As root, initdb and postgres refuse to run, so they run as
the ``postgres`` OS user on a directory chowned to it. ``--locale=C`` sorts text by bytes, as
SQLite's BINARY collation does, which byte-identical answers from both back ends rely on.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg

#: Debian installs the server binaries off PATH, one folder per major version.
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
UNPRIVILEGED_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine; the message says what to install."""


def find_binaries() -> Path:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's newest version."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    folders = sorted(glob.glob(DEBIAN_BINARIES), key=lambda f: int(f.split("/")[-2]))
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's 'postgresql'")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One server on a free loopback port; :meth:`create_database` hands out empty databases."""

    def __init__(self, *, durable: bool = False, settings: dict[str, str] | None = None) -> None:
        #: False for the tests: no fsync (a crash loses the server, which they never reuse).
        self.durable = durable
        #: Server settings (``-c name=value``) beside the defaults.
        self.settings = settings or {}
        self.bin = find_binaries()
        self.root = Path(tempfile.mkdtemp(prefix="costlog-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(UNPRIVILEGED_USER)
            except KeyError:
                shutil.rmtree(self.root)
                raise PostgresUnavailable(
                    f"running as root and no '{UNPRIVILEGED_USER}' user to run PostgreSQL as"
                    " (Debian's 'postgresql' package creates it)") from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        result = subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True,
                                text=True, timeout=120, cwd=self.root, **self._user)
        if result.returncode:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def start(self) -> "PostgresServer":
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.root / "log"),
                  "-o", options)
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"costlog_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
