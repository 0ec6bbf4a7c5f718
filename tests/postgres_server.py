"""A throwaway PostgreSQL cluster in a temporary folder, on a free loopback port.

``initdb`` and ``pg_ctl`` from the PostgreSQL packages (``.ci/run`` installs them). The
server refuses to run as root, so under root it runs as the ``postgres`` system user
(through ``runuser``). Used by the ledger tests (session-scoped) and the benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

VERSIONED_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def find_bin(name: str) -> str | None:
    """``initdb`` or ``pg_ctl``: on PATH, else in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    for folder in VERSIONED_BINS:
        if (folder / name).exists():
            return str(folder / name)
    return None


def unavailable() -> str | None:
    """Why a throwaway cluster cannot be started here, or None when it can."""
    if not (find_bin("initdb") and find_bin("pg_ctl")):
        return "PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
        if not shutil.which("runuser"):
            return "running as root and runuser is missing"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """``start()``, ``url(database)``, ``new_schema_url()``, ``stop()``."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable  # False: fsync off, for tests (a lost cluster is no loss)
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="tutor-pg-"))
        self.data = self.folder / "data"
        self.user = "postgres"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        assert initdb and pg_ctl
        self._run(initdb, "-A", "trust", "-U", self.user, "-E", "UTF8", "-D", str(self.data))
        options = f"-k {self.folder} -p {self.port} -c listen_addresses=127.0.0.1"
        options += " -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w",
            "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    async def new_schema_url(self) -> str:
        """A URL whose every table lands in a new, empty schema: one ledger per test."""
        import asyncpg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f"CREATE SCHEMA {schema}")
        finally:
            await conn.close()
        return f"{self.url()}?search_path={schema}"

    def stop(self) -> None:
        pg_ctl = find_bin("pg_ctl")
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if pg_ctl:
                self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
