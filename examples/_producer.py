"""One producer per cluster, for the examples that feed every viewer from one loop
(``ticker.py``, ``iot.py``). Not an example of its own: a helper they share.

``one_producer(app, "ticker", produce)`` runs ``produce()`` from the moment the app
serves (Quart's ``before_serving``) to the moment it stops (``after_serving``), on
exactly one process of the cluster:

- With the in-process backplane (no ``QUARTDASH_BACKPLANE``), a push reaches the
  sockets of its own process only, so every process is a cluster of one and runs its
  own producer: one loop per process is right there.
- With the Redis backplane a push reaches every worker's subscribers, so one producer
  per process would deliver each update once per worker, each from a different
  simulation. Here only the process holding a Redis lock (redis-py's ``Lock``) produces:
  the holder renews it every third of ``LOCK_SECONDS`` (only its own: the lock carries
  the holder's token), and the others try to take it at the same pace. A holder that dies
  without a word (SIGKILL, a lost host) stops renewing, and another worker takes over
  within ``LOCK_SECONDS``; one that stops cleanly gives the lock back at once. A holder
  that cannot renew (Redis unreachable, or the lock gone) stops producing at once,
  before its lock can run out, so two producers never overlap; the updates pause
  during a Redis outage and resume by themselves once Redis answers.

The producer's state lives in its process: when another worker takes over, its
simulation starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from quartdash import QuartDash
from quartdash.cluster.models import THIS_WORKER

#: A dead holder's lock runs out after this many seconds; another worker then takes over.
LOCK_SECONDS = 3.0

Produce = Callable[[], Awaitable[None]]
log = logging.getLogger("quartdash.examples")


def one_producer(app: QuartDash, name: str, produce: Produce) -> None:
    """Run ``produce()`` while the app serves, on one process of the cluster."""
    tasks: list[asyncio.Task[None]] = []

    @app.server.before_serving
    async def start() -> None:
        tasks.append(asyncio.create_task(_lead(app, name, produce)))

    @app.server.after_serving
    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _logged(name: str, produce: Produce) -> None:
    """``produce()``, its failure logged (the lock is then given back, see ``_lead``)."""
    try:
        await produce()
    except Exception:  # pylint: disable=broad-exception-caught
        log.exception("%s: the producer failed", name)


async def _lead(app: QuartDash, name: str, produce: Produce) -> None:
    """Produce here if this process may: always without Redis, with it while holding
    the lock ``examples:<name>:producer``."""
    url = getattr(app.backplane, "url", None)  # the Redis backplane's, without its options
    if not isinstance(url, str):
        await _logged(name, produce)
        return
    from redis.asyncio import Redis  # pylint: disable=import-outside-toplevel
    from redis.exceptions import RedisError  # pylint: disable=import-outside-toplevel

    redis = Redis.from_url(url, socket_timeout=LOCK_SECONDS / 3)
    # redis-py's lock: a random token per holder, renewed and released only by it.
    lock = redis.lock(f"examples:{name}:producer", timeout=LOCK_SECONDS, blocking=False,
                      thread_local=False)
    producing: asyncio.Task[None] | None = None
    try:
        while True:
            try:
                if producing is not None and producing.done():  # it failed: let go
                    producing = None
                    await lock.release()
                elif producing is None:
                    if await lock.acquire():
                        log.info("%s: this worker (%s) produces", name, THIS_WORKER)
                        producing = asyncio.create_task(_logged(name, produce))
                else:
                    await lock.reacquire()  # LockNotOwnedError once another holds it
            except RedisError as exc:  # LockError included
                if producing is not None:
                    log.warning("%s: this worker stops producing (%s)", name, exc)
                    producing.cancel()
                    producing = None
            await asyncio.sleep(LOCK_SECONDS / 3)
    finally:
        if producing is not None:
            producing.cancel()
        with contextlib.suppress(RedisError, OSError):
            await lock.release()  # a clean stop hands over at once
        await redis.aclose()
