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
missing); if that user cannot reach the wheel's binaries (a venv under a private home folder), they
are copied once to the temporary folder instead of loosening the folders above the venv.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
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


def _others_can_run(bin_dir: Path) -> bool:
    """Whether another user can reach and run the binaries (every folder above them o+x, the tree o+r)."""
    if any(folder.stat().st_mode & stat.S_IXOTH == 0 for folder in [bin_dir, *bin_dir.parents]):
        return False
    for root, dirs, files in os.walk(bin_dir.parent):  # pginstall/{bin,lib,share}
        for name in dirs + files:
            mode = Path(root, name).stat().st_mode
            if not mode & stat.S_IROTH or (stat.S_ISDIR(mode) and not mode & stat.S_IXOTH):
                return False
    return True


def _runnable_copy(bin_dir: Path) -> Path:
    """The binaries where the unprivileged user can run them: in place if it can, else a copy under
    the temporary folder (34 MB, made once) — rather than opening up the folders above a venv."""
    if _others_can_run(bin_dir):
        return bin_dir
    stamp = f"{bin_dir.stat().st_ino}-{int((bin_dir / 'postgres').stat().st_mtime)}"
    target = Path(tempfile.gettempdir()) / f"paperboy-pgserver-{stamp}"
    if not (target / "pgserver" / "pginstall" / "bin" / "postgres").is_file():
        # The wheel's layout is kept: its binaries find their libraries at $ORIGIN/../../../pgserver.libs.
        partial = Path(tempfile.mkdtemp(prefix="paperboy-pgserver-"))
        shutil.copytree(bin_dir.parent, partial / "pgserver" / "pginstall", symlinks=True)
        libs = bin_dir.parents[2] / "pgserver.libs"
        if libs.is_dir():
            shutil.copytree(libs, partial / "pgserver.libs", symlinks=True)
        for root, dirs, files in os.walk(partial):
            for name in [".", *dirs, *files]:
                p = Path(root, name)
                if not p.is_symlink():
                    p.chmod(p.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if p.is_dir() or p.stat().st_mode & stat.S_IXUSR else 0))
        try:
            partial.rename(target)
        except OSError:  # another test run made it meanwhile
            shutil.rmtree(partial, ignore_errors=True)
    return target / "pgserver" / "pginstall" / "bin"


class PostgresServer:
    def __init__(self, base: Path):
        self.bin = bin_dir()
        self.base = base
        self.data = base / "data"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", _unprivileged_user(), "--"]
            self.bin = _runnable_copy(self.bin)

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
