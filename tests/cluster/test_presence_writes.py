"""A worker's presence in Redis stays exact while its single entries and its whole
hash are written at once: the refresh that rewrites the hash from a snapshot must not
undo a socket's topic (or its arrival) sent while the snapshot was on its way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from quartdash.cluster import wire
from quartdash.cluster.models import Command, ConnectionInfo, Selector
from quartdash.cluster.redis import RedisBackplane
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

    def apply(self, command: Command) -> int:
        return 0

    backplane: RedisBackplane


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
            backplane = RedisBackplane(redis_url, presence_ttl=600)
            backplane.worker = f"race-{attempt}"
            sockets = Sockets()
            sockets.backplane = backplane
            sockets.infos["c1"] = record(())
            await backplane.start(sockets)
            try:
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
                await backplane.stop()
    finally:
        await client.aclose()
