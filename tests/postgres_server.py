"""A real, throw-away PostgreSQL server for the tests (Debian's ``postgresql`` package).

``initdb`` + ``pg_ctl`` into a temporary folder, listening on a free loopback port only, trust
authentication (nothing else can reach it), fsync off (a test database need not survive a power
cut). PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user
that the Debian package creates. ``make test`` installs the package (scripts/install-system-deps).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        path = shutil.which("initdb")
        if not path:
            raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql, or run scripts/install-system-deps)")
        return Path(path).parent
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, base: Path):
        self.bin = _bin_dir()
        self.base = base
        self.data = base / "data"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server as") from None
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        r = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(args[:2])} failed: {r.stdout}{r.stderr}")

    def start(self) -> PostgresServer:
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(self.base, "postgres")
            os.chmod(self.base, 0o700)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.base} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except PostgresUnavailable:
            pass

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``; its SQLAlchemy URL."""
        import psycopg

        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
                return self.url(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
