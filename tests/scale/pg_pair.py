"""A private PostgreSQL primary and its streaming replica on loopback, for the replica and
database-fault tests (never the shared server at 5432, which the other tests use: those tests
stop and restart their database).

The binaries come from ``KAPSTONE_PG_BIN`` (default: Debian's /usr/lib/postgresql/15/bin).
initdb refuses to run as root; as root, the clusters run as the ``postgres`` OS user in a
temporary directory it owns. Every wait is bounded; ``stop()`` always stops both servers
(``pg_ctl stop -m immediate``) and removes the directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("KAPSTONE_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT_S = 60
DATABASE = "kapstone"


def available() -> str | None:
    """Why a private pair cannot run here, or None."""
    for tool in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
        if not (PG_BIN / tool).is_file():
            return f"{PG_BIN / tool} not found (set KAPSTONE_PG_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One PostgreSQL server of the pair."""

    def __init__(self, pair: PgPair, name: str, port: int) -> None:
        self.pair, self.name, self.port = pair, name, port
        self.data = pair.root / name
        self.log = pair.root / f"{name}.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def connect(self, dbname: str = DATABASE) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def pg_ctl(self, *args: str) -> None:
        self.pair.run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            *args,
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode)

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class PgPair:
    """``primary`` and ``replica`` (a ``pg_basebackup -R`` of it, streaming) in a temporary dir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kapstone-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self.primary = Server(self, "primary", free_port())
        self.replica = Server(self, "replica", free_port())
        self._started: list[Server] = []

    def run(self, *command: str, timeout: float = START_TIMEOUT_S + 10) -> str:
        if self.as_root:
            command = ("runuser", "-u", "postgres", "--", *command)
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}): {result.stderr}{result.stdout}"
            )
        return result.stdout

    def _configure(self, server: Server, lines: list[str]) -> None:
        # Later lines win in postgresql.conf; written as the cluster's owner.
        text = "\n".join(lines) + "\n"
        self.run("sh", "-c", f"cat >> {server.data / 'postgresql.conf'} <<'EOF'\n{text}EOF")

    def start(self) -> PgPair:
        primary, replica = self.primary, self.replica
        # -A trust: loopback only (listen_addresses below); the default pg_hba.conf of initdb
        # already admits replication connections from 127.0.0.1.
        self.run(
            str(PG_BIN / "initdb"), "-D", str(primary.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )
        self._configure(
            primary,
            [
                "listen_addresses = '127.0.0.1'",
                f"port = {primary.port}",
                f"unix_socket_directories = '{self.root}'",
                "wal_level = replica",
                "max_wal_senders = 4",
                "hot_standby = on",
                "max_connections = 60",
                "shared_buffers = 32MB",
                # A throwaway cluster: durability is not what these tests measure.
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
            ],
        )
        primary.start()
        self._started.append(primary)
        with primary.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        self.run(
            str(PG_BIN / "pg_basebackup"),
            "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(replica.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
        self._configure(replica, [f"port = {replica.port}"])
        replica.start()
        self._started.append(replica)
        return self

    def stop(self) -> None:
        for server in reversed(self._started):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):  # already down
                server.stop("immediate")
        self._started.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def wait_replayed(self, timeout_s: float = 30) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        with self.primary.connect() as conn:
            target = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout_s
        with self.replica.connect() as conn:
            while True:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()[0]
                if done:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica did not replay up to {target} within {timeout_s} s")
                time.sleep(0.05)
