"""Starting our Python processes (services, simulators) in the background and waiting for /health."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path
    health_url: str | None = None

    def stop(self, timeout: float = 15.0) -> None:
        stop_process_group(self.process.pid, timeout)

    def kill(self) -> None:
        """SIGKILL: what a crash looks like (tests use it)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)


def start_python(name: str, module: str, *args: str, env: dict[str, str], log_dir: Path,
                 health_url: str | None = None) -> Managed:
    """`python -m module args` in its own session (so a group signal stops it and its children)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{name}.log"
    log = open(log_file, "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    return Managed(name, process, log_file, health_url)


def stop_process_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the group, wait, then SIGKILL whatever is left."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def wait_healthy(managed: list[Managed], timeout: float = 90.0) -> None:
    """Until every process's health URL answers 200; fails early when a process exits."""
    deadline = time.monotonic() + timeout
    pending = [m for m in managed if m.health_url]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while pending:
            for m in list(pending):
                if m.process.poll() is not None:
                    tail = m.log_file.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{m.name} exited with code {m.process.returncode}; log tail:\n{tail}")
                try:
                    async with session.get(m.health_url) as response:  # type: ignore[arg-type]
                        if response.status == 200:
                            pending.remove(m)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
            if pending and time.monotonic() > deadline:
                names = ", ".join(m.name for m in pending)
                raise TimeoutError(f"not healthy after {timeout:.0f}s: {names}")
            if pending:
                await asyncio.sleep(0.2)
