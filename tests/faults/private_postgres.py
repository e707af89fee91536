"""A PostgreSQL cluster of a test's own: ``initdb`` into a temporary directory, served on a free port.

Stopping and starting it disturbs nobody else (the suite's shared server keeps running). The
binaries are found at run time: ``pg_config --bindir``, then the distribution's versioned folders
(``/usr/lib/postgresql/<version>/bin``, newest first), then ``PATH``. Without them the test is
skipped locally and fails under ``CI=true``. PostgreSQL refuses to run as root, so when the tests
do, the cluster runs as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import require_service

_TOOLS = ("initdb", "pg_ctl")


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(out.stdout.strip()))
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in versioned), key=lambda p: _version(p.parent.name), reverse=True)
    which = shutil.which("initdb")
    if which is not None:
        candidates.append(Path(which).resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in _TOOLS):
            return folder
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One cluster: ``start()``, ``stop()`` (immediate: connections are cut, as in a crash), ``close()``."""

    def __init__(self) -> None:
        bindir = find_bindir()
        if bindir is None:
            require_service("PostgreSQL binaries", "initdb and pg_ctl were not found (pg_config, PATH)")
        assert bindir is not None
        self.bindir = bindir
        self.port = free_port()
        self.superuser = "postgres"
        self.url = f"postgresql://{self.superuser}@127.0.0.1:{self.port}/postgres"
        self._as_user: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="tenantry-private-pg-"))
        if os.geteuid() == 0:
            # initdb and postgres refuse root: run them as the system's postgres user, in a folder it owns.
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                require_service("PostgreSQL", "running as root and there is no postgres system user")
                raise
            os.chown(self.root, account.pw_uid, account.pw_gid)
            runuser = shutil.which("runuser") or "runuser"
            self._as_user = [runuser, "-u", "postgres", "--"]
        self.data = self.root / "data"
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.superuser,
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        )

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [*self._as_user, str(self.bindir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start serving on ``port`` (returns once it accepts connections)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-w", "-t", "30", "-o", options, "-l", str(self.root / "log")
        )

    def stop(self) -> None:
        """Stop at once: every connection is cut, as when the server crashes or is restarted."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30")

    def close(self) -> None:
        """Stop (if running) and remove the cluster's files."""
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30")
        shutil.rmtree(self.root, ignore_errors=True)
