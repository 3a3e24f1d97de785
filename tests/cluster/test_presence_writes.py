"""The Redis backplane against a real redis-server, driven through its own interface
(the registry's side is plain records): a worker's presence stays exact while its
single entries and its whole hash are written at once (the refresh that rewrites the
hash from a snapshot must not undo a socket's topic sent while the snapshot was on its
way), and a Publisher outlives a Redis outage."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from quartdash import Publisher
from quartdash.cluster import wire
from quartdash.cluster.models import Command, ConnectionInfo, Selector
from quartdash.cluster.redis import RedisBackplane
from quartdash.exceptions import BackplaneUnavailable
from quartdash.testing.servers import redis_server


class Sockets:
    """The registry's side of a backplane: this worker's sockets, as plain records.
    ``during_snapshot`` runs once, right after the next snapshot is taken: the moment a
    socket's change can slip in between the snapshot and its write."""

    def __init__(self) -> None:
        self.infos: dict[str, ConnectionInfo] = {}
        self.during_snapshot: list[asyncio.Task[None]] = []
        self.change: ConnectionInfo | None = None

    def local_list(self, selector: Selector) -> list[ConnectionInfo]:
        snapshot = [info for info in self.infos.values() if selector.matches(info)]
        change, self.change = self.change, None
        if change is not None:
            self.infos[change.id] = change
            self.during_snapshot.append(asyncio.ensure_future(self.backplane.refresh(change)))
        return snapshot

    def carry_out(self, command: Command) -> tuple[int, Callable[[], None]]:
        return 1, lambda: None  # as if one socket of this worker took each command

    backplane: RedisBackplane


@contextlib.asynccontextmanager
async def worker(url: str, name: str, sockets: Sockets) -> AsyncIterator[RedisBackplane]:
    """A worker's Redis backplane named ``name``, serving ``sockets``, until left."""
    backplane = RedisBackplane(url, presence_ttl=600)
    backplane.worker = name
    sockets.backplane = backplane
    await backplane.start(sockets)
    try:
        yield backplane
    finally:
        await backplane.stop()


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    with redis_server(tmp_path) as server:
        yield server.url


#: Tries of the race (each a fresh worker).
ATTEMPTS = 3


def record(topics: tuple[str, ...]) -> ConnectionInfo:
    return ConnectionInfo("c1", "alice", "s1", None, None, None, 1.0, 1.0, "w", 0, topics)


async def test_a_topic_sent_while_the_whole_hash_is_written_stays(redis_url: str) -> None:
    client = Redis.from_url(redis_url, socket_timeout=5)
    try:
        for attempt in range(ATTEMPTS):
            sockets = Sockets()
            sockets.infos["c1"] = record(())
            async with worker(redis_url, f"race-{attempt}", sockets) as backplane:
                sockets.change = record(("prices",))  # subscribes during the next snapshot
                # The pool hands out its last idle connection first: make that one
                # closed and the one before it open, so the whole-hash write waits for
                # its connection to open while the refresh goes out at once.
                pool = backplane._redis.connection_pool  # type: ignore[union-attr]
                kept = await pool.get_connection()
                closed = await pool.get_connection()
                await closed.disconnect()
                await pool.release(kept)
                await pool.release(closed)
                await backplane._publish_presence()  # what the refresh loop runs
                await asyncio.gather(*sockets.during_snapshot)
                stored = await client.hget(f"quartdash:conns:race-{attempt}", "c1")
                assert stored is not None
                assert wire.load_info(stored).topics == ("prices",), f"attempt {attempt}"
    finally:
        await client.aclose()


async def test_a_publisher_outlives_a_redis_outage(tmp_path: Path) -> None:
    """A Publisher's replies subscription comes back with Redis: its pushes are counted
    again, not left waiting for answers it can no longer hear (each push then waited the
    whole reply timeout and counted nothing, until the process restarted)."""
    with redis_server(tmp_path) as redis:
        async with worker(redis.url, "outage-worker", Sockets()), \
                Publisher(redis.url, reply_timeout=1.0) as pub:  # the worker answers
            assert await pub.push(everyone=True, event=("e", 1)) == 1
            redis.stop()
            with pytest.raises(BackplaneUnavailable):
                await pub.push(everyone=True, event=("e", 2))
            redis.start()
            # The worker and the publisher each find Redis again by themselves; a push
            # is counted once the publisher hears the worker's answer again.
            counted = 0
            async with asyncio.timeout(30):
                while counted != 1:
                    with contextlib.suppress(BackplaneUnavailable):
                        counted = await pub.push(everyone=True, event=("e", 3))
                    await asyncio.sleep(0.1)


class BusySockets(Sockets):
    """A worker whose sockets each take a send task per command, as a push to many
    sockets does: 1,500 tasks of about a millisecond of work each."""

    tasks: list[asyncio.Task[None]] = []

    def carry_out(self, command: Command) -> tuple[int, Callable[[], None]]:
        def start() -> None:
            loop = asyncio.get_running_loop()
            self.tasks.extend(loop.create_task(_busy()) for _ in range(1500))

        return 1500, start


async def _busy() -> None:
    time.sleep(0.001)  # noqa: ASYNC251 - a send's own work, on the loop


async def test_a_worker_answers_a_push_before_its_sends(tmp_path: Path) -> None:
    """The pusher hears a worker's count before that worker's sockets are served: the
    answer was made after the push's send tasks and came 1.5 s later, past the reply
    timeout, so a delivered push counted nothing."""
    with redis_server(tmp_path) as redis:
        async with worker(redis.url, "busy-worker", BusySockets()), \
                Publisher(redis.url, reply_timeout=0.5) as pub:
            for _ in range(3):
                assert await pub.push(everyone=True, event=("e", 1)) == 1500


async def test_a_burst_of_presence_writes_waits_for_connections(tmp_path: Path) -> None:
    """More writes at once than the pool has connections wait for one, and the worker
    stays healthy (the pool raised at once, which read as Redis being down: the worker
    degraded and refused new sockets with 1013)."""
    with redis_server(tmp_path) as redis:
        async with worker(redis.url, "burst-worker", Sockets()) as backplane:
            infos = [ConnectionInfo(f"c{i}", "u", None, None, None, None, 1.0, 1.0, "w", 0,
                                    ("t",)) for i in range(600)]
            await asyncio.gather(*(backplane.refresh(info) for info in infos))
            assert backplane.healthy
            client = Redis.from_url(redis.url)
            assert await client.hlen("quartdash:conns:burst-worker") == 600
            await client.aclose()
