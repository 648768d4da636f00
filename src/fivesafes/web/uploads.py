"""Uploads: saved to disk a chunk at a time, and checked in a worker process.

A file sent through a form is already spooled to disk by the form parser
(Starlette's ``UploadFile``); :func:`save_upload` copies it into a folder of ours
a megabyte at a time and refuses it past the site's limit, so the server never
holds a whole file in memory. Checking a return reads all of it, and its rules
build tables several times its size: :class:`CheckWorkers` runs such a check in a
process of its own (a new one for each check, forked from a process that has the
checking code loaded, so it starts in milliseconds). The server's memory stays
what it was however large the file, the memory the check took is given back when
it ends, and neither the event loop nor the site's writers wait for it.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from starlette.datastructures import UploadFile

from fivesafes.errors import FivesafesError
from fivesafes.web.i18n import _

CHUNK = 1 << 20
#: Modules the worker processes start with (imported once, in the fork server).
PRELOAD = ["fivesafes.collections.checking"]
T = TypeVar("T")


async def save_upload(upload: UploadFile, path: Path, limit: int) -> bool:
    """Copy ``upload`` to ``path`` a chunk at a time; False (and nothing left at
    ``path``) if it is larger than ``limit`` bytes."""
    size = 0
    with path.open("wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        path.unlink()
        return False
    return True


class CheckWorkers:
    """Runs checks of uploaded files in worker processes, ``workers`` at a time
    (more wait their turn); each process does one check and ends."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(PRELOAD)
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, max_tasks_per_child=1
                )
            return self._pool

    def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in a worker process; blocks the calling thread (call it
        from a worker thread, not the event loop). What ``work`` raises is raised
        here; a worker that dies (killed, out of memory) is a user error saying so."""
        try:
            return self._executor().submit(work, *args).result()
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            raise FivesafesError(
                _(
                    "The check of the file stopped before it finished (the server may "
                    "not have had the memory for it). Nothing was stored; try again, or "
                    "submit it with `fivesafes collections submit`."
                )
            ) from None

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
