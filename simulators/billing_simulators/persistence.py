"""A simulator's state kept in a data folder, so that `make down` then `make up` finds the same world.

Without a data folder nothing is written (tests keep their simulators in memory). With one, the
state is read at start when `<name>.json` is there, written a moment after any request that may
change it (every method but GET and HEAD), and written once more at shutdown. Under steady changes a
write follows the previous one after at least SAVE_DELAY_SECONDS, and after at least
SAVE_SPACING times as long as that write took: a whole-file rewrite of a large world every half
second cost a simulator more CPU than serving its requests. A write goes to a
temporary file first and replaces the snapshot in one rename: a crash leaves the previous one.

Snapshots are JSON with tagged values for what JSON lacks (Decimal, datetime, date, tuple).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger("billing_simulators.persistence")

SAVE_DELAY_SECONDS = 0.5  # changes within this window are written together
SAVE_SPACING = 20  # writing takes at most about 1/20 of the simulator's time
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORMAT = 1


def _tag(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [_tag(v) for v in value]}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {"$items": [[_tag(k), _tag(v)] for k, v in value.items()]}
        return {k: _tag(v) for k, v in value.items()}
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "$decimal":
                return Decimal(inner)
            if key == "$datetime":
                return datetime.fromisoformat(inner)
            if key == "$date":
                return date.fromisoformat(inner)
            if key == "$tuple":
                return tuple(_untag(v) for v in inner)
            if key == "$items":
                return {_untag(k): _untag(v) for k, v in inner}
        return {k: _untag(v) for k, v in value.items()}
    return value


def dumps(state: Any) -> str:
    return json.dumps({"format": FORMAT, "state": _tag(state)}, separators=(",", ":"))


def loads(text: str) -> Any:
    document = json.loads(text)
    if document.get("format") != FORMAT:
        raise ValueError(f"unknown snapshot format {document.get('format')!r}")
    return _untag(document["state"])


@dataclass
class Snapshots:
    """Reads and writes one simulator's snapshot file."""
    path: Path

    @classmethod
    def in_folder(cls, data_dir: str | os.PathLike[str], name: str) -> Snapshots:
        return cls(Path(data_dir) / f"{name}.json")

    def read(self) -> Any | None:
        if not self.path.exists():
            return None
        return loads(self.path.read_text(encoding="utf-8"))

    def write(self, state: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(dumps(state), encoding="utf-8")
        os.replace(temporary, self.path)


_PERSISTER = web.AppKey("simulator_persister", object)


class _Persister:
    def __init__(self, snapshots: Snapshots, dump: Callable[[], Any]) -> None:
        self.snapshots = snapshots
        self.dump = dump
        self.changed = asyncio.Event()

    def save(self) -> None:
        self.snapshots.write(self.dump())

    async def run(self) -> None:
        took = 0.0
        while True:
            await self.changed.wait()
            await asyncio.sleep(max(SAVE_DELAY_SECONDS, SAVE_SPACING * took))
            self.changed.clear()
            started = time.perf_counter()
            try:
                self.save()
            except Exception:  # noqa: BLE001 - a failed write is tried again at the next change
                log.exception("could not write the simulator state to %s", self.snapshots.path)
            took = time.perf_counter() - started


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def mark_changed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Any request that may change the state schedules a snapshot (also when it failed half way)."""
    try:
        return await handler(request)
    finally:
        persister = request.app.get(_PERSISTER)
        if isinstance(persister, _Persister) and request.method not in READ_ONLY_METHODS:
            persister.changed.set()


def persist(app: web.Application, data_dir: str | os.PathLike[str] | None, name: str,
            dump: Callable[[], Any], load: Callable[[Any], None]) -> None:
    """Keep `app`'s state in `data_dir/<name>.json` (nothing when `data_dir` is None): `load` it now
    when a snapshot is there, `dump` it after changes and at shutdown. The app must carry the
    `mark_changed` middleware."""
    if data_dir is None:
        return
    snapshots = Snapshots.in_folder(data_dir, name)
    stored = snapshots.read()
    if stored is not None:
        load(stored)
        log.info("%s simulator state read from %s", name, snapshots.path)
    persister = _Persister(snapshots, dump)
    app[_PERSISTER] = persister

    async def saving(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(persister.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        persister.save()  # at shutdown: the newest state, whatever the timer had written
        log.info("%s simulator state written to %s", name, snapshots.path)

    app.cleanup_ctx.append(saving)
