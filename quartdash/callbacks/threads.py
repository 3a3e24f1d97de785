"""The one thread pool for sync callbacks, shared fairly between clients.

Sync callbacks never run on the event loop; they run in one bounded pool. Shared
first-come first-served, one socket could queue dozens of one-second callbacks and
every other client's sync callback would wait behind all of them (measured: 48 queued
callbacks made another client's 1 s callback take 8.8 s on a 6-thread pool). So each
client may hold at most ``share`` threads at once, and a callback past that waits for
one of its own client's to finish: another client always finds a thread within the
time of one callback, however hard one floods.

A callback counts against every key it is given: its socket and its session over
WebSocket; its session (or, without ``auth``, its remote address) over HTTP. A thread
is given back when the function really returns, not when the task awaiting it is
cancelled: a thread that cannot be stopped still counts, so closing and reopening a
socket does not buy more threads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class FairPool:
    """``executor`` with at most ``share`` threads per key at once."""

    def __init__(self, executor: ThreadPoolExecutor, share: int) -> None:
        if share < 1:
            raise ValueError("a client's share of the thread pool must be at least 1")
        self.executor = executor
        self.share = share
        #: Per key: [semaphore, holders and waiters]; dropped when nobody uses it.
        self._gates: dict[str, list[Any]] = {}

    async def run(self, keys: Sequence[str], func: Callable[[], Any]) -> Any:
        """``func()`` in the pool once every key has a thread to spare; its result."""
        loop = asyncio.get_running_loop()
        counted: list[str] = []
        acquired = 0
        try:
            for key in dict.fromkeys(keys):  # once each, always in the order given
                gate = self._gates.setdefault(key, [asyncio.Semaphore(self.share), 0])
                gate[1] += 1
                counted.append(key)
                await gate[0].acquire()
                acquired += 1
            future: Future[Any] = self.executor.submit(func)
        except BaseException:
            self._release(counted, acquired)
            raise
        # Threads go back when the function returns (or never started), whatever
        # happens to the task awaiting it.
        future.add_done_callback(lambda _f: _soon(loop, self._release, counted, acquired))
        return await asyncio.wrap_future(future)

    def _release(self, keys: list[str], acquired: int) -> None:
        """Give back the first ``acquired`` of ``keys`` and stop counting all of them."""
        for index, key in enumerate(keys):
            gate = self._gates[key]
            if index < acquired:
                gate[0].release()
            gate[1] -= 1
            if gate[1] == 0:
                del self._gates[key]


def _soon(loop: asyncio.AbstractEventLoop, func: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nothing is left to free
        loop.call_soon_threadsafe(func, *args)
