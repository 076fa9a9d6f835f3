"""A real, throw-away PostgreSQL 16 + pgvector server for the tests and benchmarks.

The binaries come from the ``pgserver`` wheel (PostgreSQL 16.2 with pgvector 0.6.2, built for
manylinux: no system package, no download at run time). Debian 12 has PostgreSQL 15 but no
pgvector package, and the PostgreSQL search backend needs the ``vector`` extension.

We drive the wheel's ``initdb`` and ``pg_ctl`` ourselves rather than through ``pgserver.get_server``:
a temporary folder, a free loopback port only, trust authentication (nothing else can reach it),
fsync off (a test database need not survive a power cut), and a clean stop — pgserver's own
start-up shares one server per data folder between processes and stops it at interpreter exit,
which a session-wide fixture does not need. PostgreSQL refuses to run as root, so under root the
server runs as an unprivileged system user (``paperboy-pg``, created here with ``useradd`` when
missing), which must be able to read the wheel's binaries.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

RUN_AS = "paperboy-pg"


class PostgresUnavailable(RuntimeError):
    pass


def bin_dir() -> Path:
    import importlib.util

    # Found, not imported: importing pgserver sets up its own server registry (a lock file, an atexit hook).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable("the pgserver package is not installed (pip install -e '.[test]')")
    path = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    if not (path / "initdb").is_file():
        raise PostgresUnavailable(f"pgserver has no initdb at {path}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged_user() -> str:
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS], capture_output=True, text=True)
        if r.returncode != 0:
            raise PostgresUnavailable(f"running as root and could not create the user {RUN_AS!r}: {r.stderr.strip()}") from None
    return RUN_AS


def _readable_by_others(path: Path) -> None:
    """The server runs as another user: it must traverse every folder above the wheel's binaries
    and read the wheel's files (a venv made by root with a restrictive umask may not allow it)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o005 != 0o005:
            folder.chmod(mode | stat.S_IROTH | stat.S_IXOTH)
    for root, dirs, files in os.walk(path.parent):  # pginstall/{bin,lib,share}
        for name in dirs + files:
            p = Path(root, name)
            mode = p.stat().st_mode
            want = mode | stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)
            if want != mode:
                p.chmod(want)


class PostgresServer:
    def __init__(self, base: Path):
        self.bin = bin_dir()
        self.base = base
        self.data = base / "data"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", _unprivileged_user(), "--"]
            _readable_by_others(self.bin)

    def _run(self, *args: str) -> None:
        r = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(args[:2])} failed: {r.stdout}{r.stderr}")

    def start(self, **settings: str) -> PostgresServer:
        """initdb (unless ``base`` already holds a cluster: benchmarks keep theirs) + start;
        ``settings`` are extra server settings (``shared_buffers="1GB"``)."""
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(self.base, RUN_AS)
            os.chmod(self.base, 0o700)
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)  # a half-made cluster from an interrupted initdb
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.base),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **settings,
        }
        flags = f"-p {self.port} " + " ".join(f"-c {k}={v}" for k, v in options.items())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", flags, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` for throw-away test clusters; ``fast`` for one that is kept (a clean shutdown)."""
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
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
